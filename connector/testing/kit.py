"""Stand up an ApprovalFlow: the simulators the user's config needs (in-process on ``responses``,
or served on loopback with the connector itself served by uvicorn so signed webhooks reach it),
the connector on a temporary store, and the record of runs. The pytest plugin's fixtures are
thin wrappers over ``open_flow``; it works outside pytest too (a script, another runner)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.testing.config import ConfigSource, kit_config, read_source, simulated_systems
from connector.testing.flow import ApprovalFlow
from connector.testing.runs import RunLog
from connector.testing.service import RunningService, wait_until
from connector.testing.systems import SimulatedSystem, requests_mock


@contextmanager
def open_flow(
    source: ConfigSource,
    folder: Path,
    *,
    served: bool = False,
    env: Mapping[str, str] | None = None,
    systems: Mapping[str, SimulatedSystem] | None = None,
) -> Iterator[ApprovalFlow]:
    """The user's config (a path or a dict) running against simulators, its files in ``folder``.
    ``served``: simulators and connector over real HTTP on loopback (webhooks on). ``systems``:
    simulators already started (the ``acr_jira`` ... fixtures), by the config's system name."""
    data, name = read_source(source)
    sims = simulated_systems(data, systems)
    with ExitStack() as stack:
        mock = _start(stack, sims, served)
        kit = kit_config(data, name, folder, sims, env)
        connector = Connector.from_config(kit.config, env=kit.env)
        stack.callback(connector.close)
        runs = RunLog()
        runs.attach(connector.registry)
        service = None
        if served:
            service = stack.enter_context(RunningService(connector))
            _started(service)  # its catch-up cycle done: the test does not race it
            for system_name, sim in sims.items():
                secret = sim.webhook_secret(kit.data["systems"][system_name])
                if secret:
                    sim.point_webhooks_at(f"{service.url}/webhooks/{system_name}", secret)
        yield ApprovalFlow(connector, kit, runs, service, mock)


def _started(service: RunningService, timeout: float = 30.0) -> None:
    try:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok", timeout)
    except AssertionError:
        raise UserError(f"the served connector did not finish its start-up cycle in {timeout:g} s") from None


def _start(stack: ExitStack, sims: Mapping[str, SimulatedSystem], served: bool) -> object | None:
    """Start what is not running yet; returns the RequestsMock of an in-process flow."""
    if served:
        for name, sim in sims.items():
            if sim.mock is not None:
                raise UserError(f"approval_flow(served=True): system {name!r} is already in-process")
            if not sim.serving:
                stack.enter_context(sim.served())
        return None
    mock = next((sim.mock for sim in sims.values() if sim.mock is not None), None)
    for name, sim in sims.items():
        if sim.serving:
            raise UserError(f"approval_flow(served=False): system {name!r} is served; pass served=True")
        if sim.mock is None:
            if mock is None:
                mock = stack.enter_context(requests_mock())
            sim.install(mock)
            stack.callback(setattr, sim, "mock", None)
    return mock
