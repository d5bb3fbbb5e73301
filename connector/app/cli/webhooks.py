"""``webhooks register``: each system's webhook set-up, printed or created through its API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from connector.app.cli.options import command
from connector.app.cli.output import out
from connector.app.cli.session import connector
from connector.core.errors import UserError

if TYPE_CHECKING:
    from connector.app.runtime import Connector


def _webhook_url(conn: Connector, public_url: str | None, system: str) -> str:
    base = (public_url or conn.config.server.public_url).rstrip("/")
    if not base:
        raise UserError("no public URL: set server.public_url in the config or pass --public-url")
    if not base.startswith(("https://", "http://")):
        raise UserError(f"public URL {base!r} must start with https:// (or http:// for tests)")
    return f"{base}/webhooks/{system}"


@command("register")
@click.option("--apply", is_flag=True, help="Create the webhooks through the APIs where possible.")
@click.option("--public-url", metavar="URL", help="Override server.public_url.")
@click.option("--system", help="Only this system.")
def webhooks_register(apply: bool, public_url: str | None, system: str | None) -> None:
    """Print (or with --apply, create) each system's webhook set-up."""
    conn = connector()
    names = [system] if system else list(conn.adapters)
    for name in names:
        adapter = conn.adapters.get(name)
        if adapter is None:
            raise UserError(f"--system: no system named {name!r}")
        url = _webhook_url(conn, public_url, name)
        out.rule(name)
        if apply:
            try:
                out.print(adapter.register_webhook(url))
                continue
            except UserError as exc:
                out.print(f"cannot be created through the API ({exc}); set it up by hand:")
        out.print(adapter.webhook_setup(url))
