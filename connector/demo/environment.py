"""Where the demo's ticket lives, found through the adapter packages.

An adapter package that can host the demo has a module ``demo`` (``adapters/<kind>/demo.py``)
with ``demo_environment(config_path)``: a context manager that yields a DemoEnvironment (a
Connector, the TicketDriver its human acts through, and a label for the narration) and cleans up
after. A third-party package registers the same function under the entry-point group
``approval_connector.demos``. The demo itself knows no system by name."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from string import Template
from typing import TYPE_CHECKING

import adapters
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.testing.driver import TicketDriver
from connector.testing.simulator import SimulatedAPI

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DEMO_GROUP = "approval_connector.demos"

DemoFactory = Callable[[str | None], AbstractContextManager["DemoEnvironment"]]


@dataclass
class DemoEnvironment:
    connector: Connector
    driver: TicketDriver
    label: str  # where the ticket waits, e.g. "the local desk", "a simulated Jira at http://…"
    approver: str  # who decides unless ``--as`` says otherwise (a user the system knows)


def demo_systems() -> list[str]:
    """Names ``demo --system`` accepts: adapter packages with a ``demo`` module, and plugins."""
    names = {ep.name for ep in entry_points(group=DEMO_GROUP)}
    for module in pkgutil.iter_modules(adapters.__path__):
        if module.ispkg and importlib.util.find_spec(f"adapters.{module.name}.demo") is not None:
            names.add(module.name)
    return sorted(names)


def find_demo(system: str) -> DemoFactory:
    """The ``demo_environment`` of one system; one clear line naming the choices if there is none."""
    for ep in entry_points(group=DEMO_GROUP):
        if ep.name == system:
            return ep.load()
    if system in demo_systems():
        return importlib.import_module(f"adapters.{system}.demo").demo_environment
    raise UserError(f"--system: {system!r} is not one of {', '.join(demo_systems())}")


@contextmanager
def served_simulator(
    sim: SimulatedAPI, config: Traversable, env: Mapping[str, str]
) -> Iterator[tuple[Connector, str]]:
    """A simulator served on loopback (real HTTP) and a Connector on a throw-away store, built
    from a demo YAML file in which ``${url}`` and ``${store_url}`` are filled in; yields the
    connector and the simulator's URL."""
    template = Template(config.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder, sim.serve() as url:
        text = template.substitute(store_url=f"sqlite:///{folder}/demo.db", url=url)
        connector = Connector.from_config(parse_config(text, str(config)), env=env)
        try:
            yield connector, url
        finally:
            connector.close()
