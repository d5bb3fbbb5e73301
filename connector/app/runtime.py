"""Connector: builds the store, adapters, tool registry and service from one config, and is the
object applications hold (``connector.gate(tool)``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from autogen_core.tools import BaseTool

import adapters
import connector
from connector.agents.autogen.api import ConversationMethods, install_resumer
from connector.agents.autogen.gate import GatedTool
from connector.agents.autogen.tools import as_autogen_tool, autogen_tool
from connector.agents.maf.api import MafMethods, install_maf
from connector.agents.maf.tools import is_maf_tool, maf_tool
from connector.agents.mcp.api import McpMethods, install_mcp
from connector.app.config import ConnectorConfig, line_of, load_config
from connector.app.metrics import Metrics
from connector.core.adapter import (
    AdapterBridge,
    AdapterContext,
    TicketAdapter,
    load_adapter_class,
    parse_settings,
)
from connector.core.errors import ConfigError, UserError
from connector.core.integrity import Sealer
from connector.core.models import DecisionEvent, utcnow
from connector.core.policy import require_route
from connector.core.registry import ToolRegistry
from connector.core.service import ApprovalService
from connector.core.store import Store
from connector.core.timing import needed_features

# where this project's own files are installed: a config that lives there (the built-in defaults,
# a system's demo.yaml) is the package's, not the user's, and nothing is written beside it
PACKAGE_FOLDERS = tuple(Path(m.__file__).resolve().parent for m in (connector, adapters))


def key_folder(config: ConnectorConfig) -> Path:
    """Where the generated seal key lives: beside the config file, unless that file is part of
    the installed packages (their defaults, a demo's config: then the working directory, never
    inside site-packages, which may be read-only or shared by every user of the machine)."""
    source = Path(getattr(config, "_source", "") or ".").resolve()
    if not source.parent.is_dir() or any(source.is_relative_to(f) for f in PACKAGE_FOLDERS):
        return Path.cwd()
    return source.parent


log = logging.getLogger("approval_connector")

DB_THREADS = 8
ADAPTER_THREADS = 16


def build_adapters(config: ConnectorConfig, context: AdapterContext) -> dict[str, TicketAdapter]:
    adapters: dict[str, TicketAdapter] = {}
    for name, system in config.systems.items():
        where = f"{line_of(config, ('systems', name))}: systems.{name}"
        try:
            cls = load_adapter_class(system.type)
        except ConfigError as exc:
            raise ConfigError(
                f"{line_of(config, ('systems', name, 'type'))}: systems.{name}.type: {exc}"
            ) from None
        settings = parse_settings(cls.system_settings, system.adapter_part(), where)
        routes = {}
        for index, route in enumerate(config.routes):
            if route.system == name:
                route_where = f"{line_of(config, ('routes', index))}: routes[{index}]"
                routes[route.name] = parse_settings(cls.route_settings, route.adapter_part(), route_where)
        adapters[name] = cls(name, settings, routes, context)
    for index, route in enumerate(config.routes):  # timing a route needs from its system
        for key, feature in needed_features(route):
            problem = adapters[route.system].timing_problem(feature, route.name)
            if problem:
                where = line_of(config, ("routes", index, key))
                raise ConfigError(f"{where}: routes[{index}].{key}: system {route.system!r}: {problem}")
        problem = adapters[route.system].votes_problem(route.name) if route.counts_votes else None
        if problem:
            key = "quorum" if route.quorum > 1 else "from_groups"
            where = line_of(config, ("routes", index, key))
            raise ConfigError(f"{where}: routes[{index}].{key}: system {route.system!r}: {problem}")
    return adapters


class Connector(ConversationMethods, McpMethods, MafMethods):
    def __init__(
        self,
        config: ConnectorConfig,
        store: Store,
        adapters: Mapping[str, TicketAdapter],
        registry: ToolRegistry,
        service: ApprovalService,
        metrics: Metrics,
        pools: list[ThreadPoolExecutor] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.adapters = dict(adapters)
        self.registry = registry
        self.service = service
        self.metrics = metrics
        self._pools = list(pools or [])
        self.environ: Mapping[str, str] = os.environ if environ is None else environ  # secrets by name
        install_resumer(self)  # this process can continue conversations that wait on decisions
        install_mcp(self, self.environ)  # SERVER/TOOL of every configured MCP server can run here
        install_maf(self)  # and MAF conversations can be continued here, with the [maf] extra

    @classmethod
    def from_config(
        cls,
        config: ConnectorConfig | str | os.PathLike | None = None,
        *,
        env: Mapping[str, str] | None = None,
        worker_id: str | None = None,
    ) -> Connector:
        if not isinstance(config, ConnectorConfig):
            config = load_config(Path(config) if config else None)
        metrics = Metrics()
        store = Store.from_url(config.store.url, config.store_origin())
        metrics.watch_store(store, systems=list(config.systems))
        routes = config.routes
        context = AdapterContext(
            engine=store.engine,
            env=os.environ if env is None else env,
            on_api_call=metrics.count_api_call,
            # from_groups needs the voters' groups like approvers named by group do
            route_approvers={r.name: [*r.approvers, *(f"group:{g}" for g in r.from_groups)] for r in routes},
            vote_routes=frozenset(r.name for r in routes if r.counts_votes),
        )
        adapters = build_adapters(config, context)
        registry = ToolRegistry(config, converters=[autogen_tool, maf_tool])
        # Worker threads: the event loop never waits on the database or a ticketing system.
        pool_size = config.scheduler.pool_size
        db_pool = ThreadPoolExecutor(max_workers=DB_THREADS + pool_size, thread_name_prefix="acr-db")
        adapter_pool = ThreadPoolExecutor(max_workers=ADAPTER_THREADS, thread_name_prefix="acr-adapter")
        bridges = {name: AdapterBridge(a, adapter_pool, metrics) for name, a in adapters.items()}
        environment = os.environ if env is None else env
        sealer = Sealer.load(environment, key_folder(config))
        service = ApprovalService(
            config,
            store,
            bridges,
            registry,
            recorder=metrics,
            db_pool=db_pool,
            sealer=sealer,
            worker_id=worker_id,
            pool_size=pool_size,
        )
        sealed = service.transitions.seal_legacy()
        if sealed:
            log.warning("sealed %d requests stored by an earlier version (once, with this key)", sealed)
        return cls(config, store, adapters, registry, service, metrics, [db_pool, adapter_pool], environment)

    @property
    def bridges(self) -> dict[str, AdapterBridge]:
        """The async, off-the-loop facade over each adapter (what the service uses)."""
        return dict(self.service.ctx.adapters)

    def gate(
        self,
        tool: BaseTool[Any, Any] | Callable[..., Any],
        *,
        route: str | None = None,
        wait: bool = False,
        wait_timeout: float = 300.0,
        wait_interval: float = 2.0,
        agent: str = "",
        idempotent: bool | None = None,
    ) -> Any:
        """Wrap an AutoGen tool (or plain function): same name and schema, but calls need approval.
        ``wait=True`` makes the tool await the decision up to ``wait_timeout`` seconds. A MAF
        ``FunctionTool`` gives a MAF tool back (``connector.agents.maf.gate``)."""
        if is_maf_tool(tool):  # a Microsoft Agent Framework tool: gated the MAF way
            from connector.agents.maf.gate import gate_maf_tool

            return gate_maf_tool(
                self,
                tool,
                route=route,
                wait=wait,
                wait_timeout=wait_timeout,
                wait_interval=wait_interval,
                agent=agent,
                idempotent=idempotent,
            )
        base = as_autogen_tool(tool)
        require_route(self.config, base.name, route)
        if wait and wait_timeout <= 0:
            raise UserError("wait_timeout must be positive")
        self.registry.register(base, idempotent=idempotent)
        return GatedTool(
            base,
            self.service,
            route=route,
            wait=wait,
            wait_timeout=wait_timeout,
            wait_interval=wait_interval,
            agent=agent,
        )

    def register_tool(
        self, tool: BaseTool[Any, Any] | Callable[..., Any], *, idempotent: bool | None = None
    ) -> None:
        """Make a tool runnable in this process without gating it (executor-only processes)."""
        self.registry.register(tool, idempotent=idempotent)

    async def handle_event(self, event: DecisionEvent) -> Any:
        return await self.service.handle_event(event)

    async def poll_once(self) -> int:
        """One poll of every system; returns when the runs its decisions started are done."""
        return await self.service.poll_once()

    async def process_outbox(self) -> int:
        return await self.service.process_outbox()

    async def expire_due(self) -> int:
        return await self.service.expire_due()

    async def recover(self) -> int:
        return await self.service.recover_stale_claims()

    async def housekeeping(self) -> int:
        """Drop webhook delivery ids and delivered outbox rows past their retention (the tables
        would otherwise only grow)."""
        cutoff = utcnow() - self.config.scheduler.delivery_retention
        db = self.service.ctx.db
        return await db(self.store.prune_deliveries, cutoff) + await db(self.store.prune_outbox, cutoff)

    async def run_all_jobs_once(self) -> dict[str, int]:
        """What one scheduler cycle does, in order (``poll --once``). A job that fails is logged
        and the others still run (expiry and reports must not wait on a broken poll); the counts
        say how many failed under ``failed_jobs``."""
        jobs = [
            ("recovered", self.recover),
            ("outbox", self.process_outbox),
            ("decisions", self.poll_once),
            ("expired", self.expire_due),
            ("nudged", self.service.nudge_due),
            ("reported", self.process_outbox),
            ("pruned", self.housekeeping),
            ("sealed", self.service.seal_audit),
        ]
        counts: dict[str, int] = {}
        failed = 0
        for name, job in jobs:
            try:
                counts[name] = await job()
            except Exception:  # noqa: BLE001 - one job's failure must not stop the cycle
                log.exception("job %s failed; the other jobs of this cycle still run", name)
                failed += 1
        counts["failed_jobs"] = failed
        return counts

    def close(self) -> None:
        self.service.polling.release_now()
        for adapter in self.adapters.values():
            adapter.close()
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        self.store.engine.dispose()
