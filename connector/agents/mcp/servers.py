"""Opening a configured MCP server (``mcp_servers.NAME``) with the official client: started over
stdio or reached over streamable HTTP, secrets taken from the environment by variable name,
within the configured timeouts. ``tools/list`` is read raw, so annotations, ``outputSchema`` and
``execution`` are kept (AutoGen's McpWorkbench drops them). Every failure is one
``McpServerError`` line that names the server and never a secret's value."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from connector.core.errors import ConnectorError
from connector.core.redact import redact
from connector.core.settings import McpServerConfig

if sys.version_info < (3, 11):  # anyio's dependency there
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.types import Tool as McpToolDefinition

MAX_TOOL_PAGES = 50  # tools/list pages read before giving up (a server that pages forever)


class McpServerError(ConnectorError):
    """An MCP server could not be started, reached or asked: what failed, for which server."""


def require_mcp() -> None:
    """The ``[mcp]`` extra is installed, or one line saying how to get it."""
    try:
        import mcp  # noqa: F401 - the import is the check
    except ImportError:
        raise McpServerError(
            "MCP servers need the [mcp] extra: pip install 'approval-connector[mcp]'"
        ) from None


def _from_env(name: str, where: str, variable: str, environ: Mapping[str, str]) -> str:
    value = environ.get(variable)
    if value is None:
        raise McpServerError(f"mcp_servers.{name}.{where}: environment variable {variable} is not set")
    return value


def child_env(name: str, server: McpServerConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a started server gets beyond the client's safe defaults (PATH, HOME ...)."""
    return {key: _from_env(name, f"env.{key}", var, environ) for key, var in server.env.items()}


def http_headers(name: str, server: McpServerConfig, environ: Mapping[str, str]) -> dict[str, str]:
    return {key: _from_env(name, f"headers.{key}", var, environ) for key, var in server.headers.items()}


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the task-group exception groups anyio wraps failures in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe_failure(exc: BaseException) -> str:
    exc = _leaf(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__) or type(exc).__name__


def _errlog() -> Any:
    """Where a started server's stderr goes: ours, when it is a real file (an application or a
    test may have replaced sys.stderr with one that is not), else the process's own."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None and stream.fileno() >= 0:
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


@asynccontextmanager
async def _transport(name: str, server: McpServerConfig, environ: Mapping[str, str]) -> AsyncIterator[Any]:
    if server.command is not None:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=server.command,
            args=list(server.args),
            env=child_env(name, server, environ) or None,
            cwd=server.cwd,
        )
        async with stdio_client(params, errlog=_errlog()) as (read, write):
            yield read, write
        return
    import httpx
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    timeout = httpx.Timeout(server.connect_timeout.total_seconds(), read=server.call_timeout.total_seconds())
    assert server.url is not None
    async with (
        create_mcp_http_client(headers=http_headers(name, server, environ), timeout=timeout) as client,
        streamable_http_client(server.url, http_client=client) as (read, write, _),
    ):
        yield read, write


@asynccontextmanager
async def open_session(
    name: str, server: McpServerConfig, environ: Mapping[str, str]
) -> AsyncIterator[ClientSession]:
    """An initialized client session to the server; McpServerError when it cannot be had."""
    require_mcp()
    import anyio
    from mcp import ClientSession

    entered = False
    try:
        async with (
            _transport(name, server, environ) as (read, write),
            ClientSession(read, write, read_timeout_seconds=server.connect_timeout) as session,
        ):
            with anyio.fail_after(server.connect_timeout.total_seconds()):
                await session.initialize()
            entered = True
            yield session
    except McpServerError:
        raise
    except BaseException as exc:
        leaf = _leaf(exc)
        if entered:  # the caller's own error, thrown in at the yield: as it was raised
            if leaf is not exc:
                raise leaf from None
            raise
        if not isinstance(leaf, Exception):  # cancelled, interrupted
            raise
        if isinstance(leaf, McpServerError):
            raise leaf from None
        step = "starting" if server.command else "connecting to"
        raise McpServerError(f"MCP server {name}: {step} it failed: {describe_failure(exc)}") from None


async def list_tools(session: ClientSession) -> list[McpToolDefinition]:
    """Every tool the server offers, as it describes them (every page)."""
    tools: list[McpToolDefinition] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await session.list_tools(cursor=cursor) if cursor else await session.list_tools()
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools
    return tools


def autogen_params(name: str, server: McpServerConfig, environ: Mapping[str, str]) -> Any:
    """The same server as AutoGen's McpWorkbench parameters."""
    from autogen_ext.tools.mcp import StdioServerParams, StreamableHttpServerParams

    if server.command is not None:
        return StdioServerParams(
            command=server.command,
            args=list(server.args),
            env=child_env(name, server, environ) or None,
            cwd=server.cwd,
            read_timeout_seconds=server.call_timeout.total_seconds(),
        )
    return StreamableHttpServerParams(
        url=server.url or "",
        headers=http_headers(name, server, environ) or None,
        timeout=server.connect_timeout.total_seconds(),
        sse_read_timeout=server.call_timeout.total_seconds(),
    )
