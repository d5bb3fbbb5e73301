"""Serving the approval proxy: over stdio (the client starts ``approval-connector mcp-proxy``;
every call comes from the configured ``proxy.requester``) or over streamable HTTP (every request
carries ``Authorization: Bearer TOKEN``; the token says who asks, by ``proxy.tokens``). The HTTP
side is stateless: every request is served from the store, so replicas need no sticky sessions
and a client that disconnects finds its calls again anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connector.core.errors import UserError

from .proxy import ApprovalProxy
from .servers import McpServerError, open_session

if TYPE_CHECKING:
    from connector.app.runtime import Connector

log = logging.getLogger("approval_connector")
PRINCIPAL = "approval_connector.principal"  # the ASGI scope key the authenticated principal goes in


def stdio_requester(connector: Connector, server: str) -> str:
    requester = connector.config.mcp_servers[server].proxy.requester.strip()
    if not requester:
        where = connector.config.where("mcp_servers", server)
        raise UserError(
            f"{where}: mcp_servers.{server}.proxy.requester: say who a stdio proxy's calls come from "
            "(they are the tickets' requester, never an approver)"
        )
    return requester


def bearer_tokens(connector: Connector, server: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Token → principal, the tokens read from the variables ``proxy.tokens`` names."""
    tokens = connector.config.mcp_servers[server].proxy.tokens
    if not tokens:
        raise UserError(
            f"mcp_servers.{server}.proxy.tokens: over HTTP every caller needs a bearer token; map each "
            "principal to the environment variable that holds theirs"
        )
    found: dict[str, str] = {}
    for principal, variable in tokens.items():
        value = environ.get(variable, "")
        if len(value) < 16:
            raise UserError(
                f"mcp_servers.{server}.proxy.tokens.{principal}: environment variable {variable} "
                "must hold a token of at least 16 characters"
            )
        found[value] = principal
    return found


def authenticate(tokens: Mapping[str, str], header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    principal = None
    for known, who in tokens.items():  # every token compared, in constant time
        if hmac.compare_digest(known.encode(), token.strip().encode()):
            principal = who
    return principal


class Authenticated:
    """ASGI: refuses a request without a known bearer token (401); puts its principal in the
    scope, where the proxy reads who asks."""

    def __init__(self, app: Any, tokens: Mapping[str, str]) -> None:
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        principal = authenticate(self.tokens, headers.get("authorization", ""))
        if principal is None:
            body = b'{"error": "a bearer token of a configured principal is required"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app({**scope, PRINCIPAL: principal}, receive, send)


def _scope_principal(context: Any) -> str:
    request = getattr(context, "request", None)
    principal = getattr(request, "scope", {}).get(PRINCIPAL) if request is not None else None
    if not principal:
        raise UserError("no authenticated principal for this request")
    return str(principal)


async def serve_stdio(connector: Connector, server: str) -> None:
    from mcp.server.stdio import stdio_server

    requester = stdio_requester(connector, server)
    config = connector.config.mcp_servers[server]
    async with open_session(server, config, connector.environ) as upstream:
        proxy = ApprovalProxy(connector, server, upstream, lambda _context: requester)
        app = proxy.server_app()
        async with stdio_server() as (read, write):
            await app.run(read, write, app.create_initialization_options())


async def serve_http(
    connector: Connector,
    server: str,
    host: str,
    port: int,
    ready: Callable[[str], None] = lambda url: print(f"listening on {url}", flush=True),
) -> None:
    """Serve until cancelled; ``ready(url)`` once it accepts connections (``--port 0``: a free
    port, named in the URL)."""
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Mount

    tokens = bearer_tokens(connector, server, connector.environ)
    config = connector.config.mcp_servers[server]
    async with open_session(server, config, connector.environ) as upstream:
        proxy = ApprovalProxy(connector, server, upstream, _scope_principal)
        manager = StreamableHTTPSessionManager(app=proxy.server_app(), stateless=True)

        @contextlib.asynccontextmanager
        async def lifespan(_app: Any) -> Any:
            async with manager.run():
                yield

        endpoint = Authenticated(manager.handle_request, tokens)
        app = Starlette(routes=[Mount("/mcp", app=endpoint)], lifespan=lifespan)
        sock = _bind(host, port)
        web = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        serving = asyncio.ensure_future(web.serve(sockets=[sock]))
        while not web.started:
            if serving.done():
                await serving
                raise McpServerError(f"the proxy for {server} could not start serving on {host}:{port}")
            await asyncio.sleep(0.02)
        bound = sock.getsockname()
        ready(f"http://{host}:{bound[1]}/mcp")
        await serving


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"--host/--port: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def log_to_stderr() -> None:
    """Over stdio, stdout is the MCP channel: everything else goes to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, force=True)
