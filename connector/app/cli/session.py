"""What every command shares: the ``--config`` given on the command line and the one Connector
built from it (lazily, so ``--help`` and usage errors need no database)."""

from __future__ import annotations

from pathlib import Path

from connector.app.runtime import Connector
from connector.core.errors import UserError


class _State:
    config: str | None = None
    connector: Connector | None = None


STATE = _State()


def connector() -> Connector:
    if STATE.connector is None:
        if STATE.config is not None and not Path(STATE.config).exists():
            raise UserError(f"config file not found: {STATE.config}")
        STATE.connector = Connector.from_config(STATE.config)
    return STATE.connector


def close() -> None:
    if STATE.connector is not None:
        STATE.connector.close()
        STATE.connector = None


def default_actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "reviewer"
