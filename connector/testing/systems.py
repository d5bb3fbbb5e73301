"""A simulated ticketing system for users' own tests (the testing kit): the seeded simulator, the
person acting on it (a TicketDriver), and how a user's config is pointed at it — which key holds
the system's URL, and which environment variables (named by the config) get the simulator's
credentials. Each adapter package with a simulator implements one in ``adapters/<kind>/testing.py``
as ``KIT_SYSTEM``; ``kit_system(kind)`` finds it, so the kit itself names no system."""

from __future__ import annotations

import importlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from connector.core.errors import UserError
from connector.testing.driver import TicketDriver
from connector.testing.simulator import SimulatedAPI

LOCAL_HOST = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/.*)?$")


class SimulatedSystem(ABC):
    """One simulator for one system ``type`` of the config. ``approver`` and ``requester`` are
    seeded users (the system's own names) a test can act as without knowing the seed."""

    kind: ClassVar[str]
    url_key: ClassVar[str] = "url"  # where a system's config holds its base URL
    approver: ClassVar[str]
    requester: ClassVar[str]
    in_process_url: ClassVar[str]  # the base URL used on ``responses`` (never resolved)

    sim: Any
    driver: TicketDriver
    mock: Any = None  # the RequestsMock answering for the simulator, while in-process
    serving: bool = False  # whether it is served on loopback right now

    def __init__(self, system: Mapping[str, Any] | None = None, sim: SimulatedAPI | None = None) -> None:
        self.system = dict(system or {})
        self.sim = sim if sim is not None else self.make_simulator(self.in_process_url)
        self.driver = self.make_driver()

    @abstractmethod
    def make_simulator(self, base_url: str) -> Any:
        """The seeded simulator (the same seed the demo and the contract suite use)."""

    @abstractmethod
    def make_driver(self) -> TicketDriver:
        """The person acting through the simulator."""

    @abstractmethod
    def credentials(self, system: Mapping[str, Any]) -> dict[str, str]:
        """Values for the environment variables ``system`` (one ``systems.<name>`` entry of the
        user's config) names: the simulator's service account and webhook secret."""

    def point(self, system: dict[str, Any]) -> None:
        """Rewrite one ``systems.<name>`` entry of the user's config for the simulator: its URL,
        and (``own_account``) the connector's own account where the config names one."""
        system[self.url_key] = self.sim.base_url
        if "service_account" in system:
            system["service_account"] = self.own_account()

    @abstractmethod
    def own_account(self) -> Any:
        """The ``service_account`` value naming the simulator's connector account."""

    @abstractmethod
    def point_webhooks_at(self, url: str, secret: str | None) -> None:
        """Make the simulator send its signed webhooks to ``url`` (the connector's endpoint)."""

    def webhook_secret(self, system: Mapping[str, Any]) -> str | None:
        """The secret the config's webhook section names (filled in by ``credentials``)."""
        name = (system.get("webhook") or {}).get("secret_env")
        return self.credentials(system).get(name) if name else None

    def install(self, rsps: Any) -> None:
        """Answer every request to the simulator's URL on ``rsps`` (a ``responses.RequestsMock``)."""
        self.sim.install(rsps)
        self.mock = rsps

    @contextmanager
    def in_process(self) -> Iterator[Any]:
        """On ``responses`` until the block ends; yields the RequestsMock (see ``requests_mock``)."""
        with requests_mock() as rsps:
            self.install(rsps)
            try:
                yield rsps
            finally:
                self.mock = None

    @contextmanager
    def served(self) -> Iterator[str]:
        """Serve the simulator on loopback (real HTTP) until the block ends; yields its URL."""
        with self.sim.serve() as url:
            self.serving = True
            try:
                yield url
            finally:
                self.serving = False


@contextmanager
def requests_mock() -> Iterator[Any]:
    """A ``responses.RequestsMock`` for simulators: requests to loopback pass through (a connector
    or a simulator served in the same test), anything else not mocked fails loudly. A test adds
    its own tools' endpoints to it (``rsps.get(...)``)."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(LOCAL_HOST)
        yield rsps


def kit_system(kind: str) -> type[SimulatedSystem]:
    """The kit's simulated system for a config ``type`` (``adapters.<kind>.testing.KIT_SYSTEM``)."""
    try:
        module = importlib.import_module(f"adapters.{kind}.testing")
    except ImportError:
        module = None
    found = getattr(module, "KIT_SYSTEM", None)
    if found is None:
        raise UserError(f"the testing kit has no simulator for systems of type {kind!r}")
    return found


def has_kit_system(kind: str) -> bool:
    try:
        kit_system(kind)
    except UserError:
        return False
    return True
