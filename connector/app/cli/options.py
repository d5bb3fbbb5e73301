"""The options every command takes, before or after its name: ``--config FILE`` and
``--verbose``. ``approval-connector serve --config c.yaml`` and ``approval-connector --config
c.yaml serve`` mean the same; given in both places, the one nearer the end wins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from connector.app.cli.session import STATE, configure_logging

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = (
    "Config file (default: $APPROVAL_CONNECTOR_CONFIG, then config/connector.yaml, then built-in defaults)."
)


def _set_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        STATE.config = value


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        configure_logging(True)


config_option = click.option(
    "--config", "-c", metavar="FILE", expose_value=False, callback=_set_config, help=CONFIG_HELP
)
verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, callback=_set_verbose, help="Log every event."
)


def common_options(command: F) -> F:
    """Add ``--config`` and ``--verbose`` to a command (or a group) as click parameters."""
    if isinstance(command, click.Command):
        command.params.append(click.Option(["--config", "-c"], **_CONFIG))
        command.params.append(click.Option(["--verbose", "-v"], **_VERBOSE))
        return command
    return verbose_option(config_option(command))


_CONFIG: dict[str, Any] = {
    "metavar": "FILE",
    "expose_value": False,
    "callback": _set_config,
    "help": CONFIG_HELP,
}
_VERBOSE: dict[str, Any] = {
    "is_flag": True,
    "expose_value": False,
    "callback": _set_verbose,
    "help": "Log every event.",
}


def command(name: str | None = None, **settings: Any) -> Callable[[F], click.Command]:
    """``click.command`` with the common options and ``-h`` as well as ``--help``."""
    settings.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})

    def wrap(fn: F) -> click.Command:
        return common_options(click.command(name, **settings)(fn))  # listed after its own options

    return wrap
