"""What every command shares: the ``--config`` given on the command line (before or after the
subcommand) and the one Connector built from it (lazily, so ``--help`` and usage errors need no
database, and the CLI starts without importing the runtime)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.core.errors import UserError

if TYPE_CHECKING:
    from connector.app.runtime import Connector


class _State:
    config: str | None = None
    verbose: bool = False
    connector: Connector | None = None


STATE = _State()


def connector() -> Connector:
    if STATE.connector is None:
        from pathlib import Path

        from connector.app.runtime import Connector

        if STATE.config is not None and not Path(STATE.config).exists():
            raise UserError(f"config file not found: {STATE.config}")
        STATE.connector = Connector.from_config(STATE.config)
    return STATE.connector


def close() -> None:
    if STATE.connector is not None:
        STATE.connector.close()
        STATE.connector = None


def configure_logging(verbose: bool) -> None:
    """WARNING and up (INFO with ``--verbose``) on stderr; AutoGen's token-count warnings hidden
    unless verbose."""
    import logging

    STATE.verbose = STATE.verbose or verbose
    level = logging.INFO if STATE.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if STATE.verbose:  # also when -v comes after the subcommand, once logging is set up
        logging.getLogger().setLevel(level)
    logging.getLogger("autogen_core").setLevel(logging.INFO if STATE.verbose else logging.ERROR)


def default_actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "reviewer"
