"""The ASGI app: /webhooks/<system>, /healthz, /metrics.

A webhook is only a hint (design invariant 1): the view verifies the signature against the raw
bytes, records the delivery id (redeliveries are answered and dropped), answers at once and hands
the hint to ApprovalService after the reply, which re-reads the ticket through the API before
anything is decided. A bad delivery gets 401/400/404, never a 500."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import WebhookRejected
from .models import utcnow
from .runtime import Connector

log = logging.getLogger("approval_connector.webhooks")

MAX_BODY = 1_000_000


class WebhookIntake:
    """Verifies and de-duplicates deliveries; processing happens in tracked background tasks."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.tasks: set[asyncio.Task[Any]] = set()

    def _count(self, system: str, status: str) -> None:
        self.connector.metrics.webhooks.labels(system=system, status=status).inc()

    async def receive(self, request: Request) -> Response:
        system = request.path_params["system"]
        adapter = self.connector.adapters.get(system)
        if adapter is None:
            self._count("unknown", "unknown_system")
            return JSONResponse({"error": f"no system named {system!r}"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_BODY:
            self._count(system, "too_large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        headers = dict(request.headers)
        try:
            adapter.verify_webhook(headers, body)
        except WebhookRejected as exc:
            self._count(system, "rejected_signature" if exc.status == 401 else "rejected")
            log.warning("webhook for %s rejected (%d): %s", system, exc.status, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        try:
            events = adapter.parse_webhook(headers, body)
        except WebhookRejected as exc:
            self._count(system, "malformed")
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Exception as exc:  # an adapter bug must not turn a delivery into a 500 loop
            self._count(system, "malformed")
            log.exception("webhook for %s could not be parsed", system)
            return JSONResponse({"error": f"unreadable payload: {type(exc).__name__}"}, status_code=400)
        delivery = adapter.webhook_delivery_id(headers, body)
        if delivery and not await asyncio.to_thread(self.connector.store.first_delivery, system, delivery):
            self._count(system, "duplicate")
            return JSONResponse({"status": "duplicate"}, status_code=200)
        if not events:
            self._count(system, "ignored")
            return JSONResponse({"status": "ignored"}, status_code=200)
        for event in events:
            hint = event.model_copy(
                update={"system": system, "decision": None, "source": "webhook", "delivery_id": delivery}
            )
            task = asyncio.create_task(self._process(hint))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self._count(system, "accepted")
        return JSONResponse({"status": "accepted", "events": len(events)}, status_code=202)

    async def _process(self, hint: Any) -> None:
        try:
            await self.connector.service.handle_event(hint)
            await self.connector.service.process_outbox()
        except Exception:  # the poll is the safety net: log and let it find the decision
            log.exception(
                "webhook hint for %s %s not applied; the next poll will retry", hint.system, hint.ticket_key
            )

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


def create_app(connector: Connector, lifespan: Any = None) -> Starlette:
    intake = WebhookIntake(connector)

    async def healthz(request: Request) -> Response:
        store_ok = await asyncio.to_thread(connector.store.ping)
        systems = {}
        stale_after = 3 * connector.config.scheduler.poll_interval.total_seconds()
        degraded = False
        for name in connector.adapters:
            _, last = await asyncio.to_thread(connector.store.cursor, name) if store_ok else (None, None)
            age = (utcnow() - last).total_seconds() if last else None
            fresh = age is not None and age <= stale_after
            degraded |= not fresh
            systems[name] = {
                "last_successful_poll_age_seconds": None if age is None else round(age, 1),
                "ok": fresh,
            }
        status = "ok" if store_ok and not degraded else ("degraded" if store_ok else "down")
        body = {"status": status, "store": "ok" if store_ok else "unreachable", "systems": systems}
        return JSONResponse(body, status_code=200 if store_ok else 503)

    async def metrics(request: Request) -> Response:
        data = await asyncio.to_thread(connector.metrics.render)
        return Response(data, media_type="text/plain; version=0.0.4; charset=utf-8")

    app = Starlette(
        routes=[
            Route("/webhooks/{system}", intake.receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.intake = intake
    return app
