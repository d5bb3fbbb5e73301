"""The ASGI app: /webhooks/<system>, /healthz, /metrics.

A webhook is only a hint (design invariant 1): the view verifies the signature against the raw
bytes, records the delivery id (redeliveries are answered and dropped), answers at once and hands
the hint to ApprovalService after the reply, which re-reads the ticket through the API before
anything is decided. A bad delivery gets 401/400/404, never a 500."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.app.health import health_report
from connector.app.runtime import Connector
from connector.core.errors import AdapterError, WebhookRejected
from connector.core.models import DecisionEvent

log = logging.getLogger("approval_connector.webhooks")

MAX_BODY = 1_000_000
_ACCEPTED = b'{"status": "accepted"}'  # the hot path's answer, encoded once


Waiting = tuple[str, str, "asyncio.Future[bool]"]  # system, delivery id, the reply waiting for it


class DeliveryLedger:
    """Durable record of webhook delivery ids, written by group commit in a writer thread of its
    own: ids that arrive while a batch commits share the next transaction, and each reply waits
    until its own id is committed. Under load the writer goes straight from one batch to the next,
    so the event loop neither waits on the database nor wakes a pool thread per batch (that
    hand-off cost more than the batch's own INSERTs). Idle for IDLE seconds, the writer ends; the
    next delivery starts another."""

    IDLE = 5.0  # seconds

    def __init__(self, connector: Connector, max_batch: int = 256) -> None:
        self.store = connector.store
        self.max_batch = max_batch
        self._pending: list[Waiting] = []  # arrived during this turn of the event loop
        self._queue: queue.SimpleQueue[list[Waiting]] = queue.SimpleQueue()
        self._lock = threading.Lock()  # who starts a writer, and a writer's decision to end
        self._writer: threading.Thread | None = None

    async def first(self, system: str, delivery_id: str) -> bool:
        """True the first time this delivery id is seen for this system."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((system, delivery_id, future))
        if len(self._pending) == 1:  # handed over once per turn of the loop, not once per delivery
            loop.call_soon(self._hand_over)
        return await future

    def _hand_over(self) -> None:
        waiting, self._pending = self._pending, []
        self._queue.put(waiting)
        with self._lock:
            if self._writer is None:
                writer = threading.Thread(target=self._write, name="acr-deliveries", daemon=True)
                try:
                    writer.start()
                except RuntimeError as exc:  # no thread to be had: 503 now, rather than no answer ever
                    self._fail_queued(exc)
                    return
                self._writer = writer

    def _write(self) -> None:
        """The writer thread. If it ever dies of something unforeseen, the next delivery starts a
        new one, and the deliveries queued meanwhile are answered 503 instead of left waiting."""
        try:
            self._drain()
        except BaseException as exc:
            with self._lock:
                self._writer = None
                self._fail_queued(exc)
            raise

    def _fail_queued(self, exc: BaseException) -> None:
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                return
            self._tell(batch, exc)

    def _drain(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:  # a delivery handed over after the timeout finds this writer gone
                    if self._queue.empty():
                        self._writer = None
                        return
                continue
            while True:
                try:
                    batch += self._queue.get_nowait()
                except queue.Empty:
                    break
            for start in range(0, len(batch), self.max_batch):
                try:
                    self._commit(batch[start : start + self.max_batch])
                except BaseException as exc:  # the rest of this batch is answered too, then _write
                    self._tell(batch[start:], exc)
                    raise

    def _commit(self, batch: list[Waiting]) -> None:
        """One transaction for the batch, then every waiting reply is told (never left hanging)."""
        fresh: list[bool] | BaseException
        try:
            fresh = self.store.record_deliveries([(system, delivery) for system, delivery, _ in batch])
        except Exception as exc:  # the store is down: every delivery in the batch gets a 503
            fresh = exc
        self._tell(batch, fresh)

    @staticmethod
    def _tell(batch: list[Waiting], fresh: list[bool] | BaseException) -> None:
        for loop, items in _by_loop(batch).items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, items, fresh)


def _by_loop(
    batch: list[Waiting],
) -> dict[asyncio.AbstractEventLoop, list[tuple[int, asyncio.Future[bool]]]]:
    """The batch's futures with their places in it, per event loop (one, except in tests)."""
    out: dict[asyncio.AbstractEventLoop, list[tuple[int, asyncio.Future[bool]]]] = {}
    for index, (_, _, future) in enumerate(batch):
        out.setdefault(future.get_loop(), []).append((index, future))
    return out


def _settle(items: list[tuple[int, asyncio.Future[bool]]], fresh: list[bool] | BaseException) -> None:
    """On the loop: each waiting reply learns whether its id was new, or why it was not recorded."""
    for index, future in items:
        if future.done():  # the client went away; its id is recorded all the same
            continue
        if isinstance(fresh, BaseException):
            future.set_exception(fresh)
        else:
            future.set_result(fresh[index])


class HintWorkers:
    """Hints are handled after the reply by a few workers; a ticket already queued is not queued
    twice. A hint for a ticket with no waiting request costs one store read and nothing else."""

    WORKERS = 2
    BATCH = 200
    WINDOW = 0.05  # seconds; still small next to the API re-read that follows for a real decision

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.queue: asyncio.Queue[DecisionEvent] = asyncio.Queue()
        self.queued: set[tuple[str, str]] = set()
        self.workers: list[asyncio.Task[None]] = []

    def submit(self, hint: DecisionEvent) -> None:
        key = (hint.system, hint.ticket_key)
        if key in self.queued:
            return
        self.queued.add(key)
        self.queue.put_nowait(hint)
        if not self.workers:
            self.workers = [asyncio.create_task(self._work()) for _ in range(self.WORKERS)]

    async def _work(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(self.WINDOW)  # let hints that arrive together share one look-up
            while len(batch) < self.BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            for hint in batch:
                self.queued.discard((hint.system, hint.ticket_key))
            try:
                await self._process(batch)
            except Exception:  # the poll is the safety net: log and let it find the decisions
                log.exception("%d webhook hints not applied; the next poll will retry", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _process(self, batch: list[DecisionEvent]) -> None:
        """One store query per system for the whole batch; only hints naming a waiting request go
        on to the service (which re-reads the ticket through the API before deciding anything)."""
        store, service = self.connector.store, self.connector.service
        db = service.ctx.db
        by_system: dict[str, list[DecisionEvent]] = {}
        for hint in batch:
            by_system.setdefault(hint.system, []).append(hint)
        for system, hints in by_system.items():
            keys = [h.ticket_key for h in hints]
            waiting = await db(store.waiting_on_tickets, system, keys)
            for hint in hints:
                request_id = waiting.get(hint.ticket_key)
                if request_id is None:
                    continue  # not ours, or already decided: nothing to re-read
                # runs go to the pool, and reports are delivered as soon as they are queued
                event = hint.model_copy(update={"request_id": request_id})
                try:
                    await service.handle_event(event, wait=False)
                except AdapterError as exc:  # Jira busy or down: one line; the others go on
                    log.warning("hint for %s not applied (%s); the next poll retries", hint.ticket_key, exc)

    async def drain(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except asyncio.TimeoutError:
            log.warning(
                "%d webhook hints not handled at shutdown; the next poll will find them", self.queue.qsize()
            )
        for worker in self.workers:
            worker.cancel()


class WebhookIntake:
    """Verifies and de-duplicates deliveries, answers, and hands hints to the workers."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.ledger = DeliveryLedger(connector)
        self.hints = HintWorkers(connector)
        self._counters: dict[tuple[str, str], Any] = {}  # the labelled children, looked up once

    def _count(self, system: str, status: str) -> None:
        counter = self._counters.get((system, status))
        if counter is None:
            counter = self.connector.metrics.webhooks.labels(system=system, status=status)
            self._counters[(system, status)] = counter
        counter.inc()

    async def receive(self, request: Request) -> Response:
        system = request.path_params["system"]
        adapter = self.connector.adapters.get(system)
        if adapter is None:
            self._count("unknown", "unknown_system")
            return JSONResponse({"error": f"no system named {system!r}"}, status_code=404)
        body = await _read_body(request, MAX_BODY)
        if body is None:
            self._count(system, "too_large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        # names are lower-case in ASGI; the first of repeated headers wins, as in request.headers
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(request.scope["headers"])}
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
        if delivery:
            try:
                fresh = await self.ledger.first(system, delivery)
            except Exception:
                self._count(system, "store_unavailable")
                log.exception("webhook delivery for %s not recorded", system)
                return JSONResponse({"error": "store unavailable, retry later"}, status_code=503)
            if not fresh:
                self._count(system, "duplicate")
                return JSONResponse({"status": "duplicate"}, status_code=200)
        if not events:
            self._count(system, "ignored")
            return JSONResponse({"status": "ignored"}, status_code=200)
        for event in events:
            if not _is_hint(event, system, delivery):  # whatever the adapter said: only a hint
                event = event.model_copy(
                    update={"system": system, "decision": None, "source": "webhook", "delivery_id": delivery}
                )
            self.hints.submit(event)
        self._count(system, "accepted")
        return Response(_ACCEPTED, status_code=202, media_type="application/json")

    async def drain(self, timeout: float) -> None:
        await self.hints.drain(timeout)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it passes ``limit`` bytes (the rest is never buffered);
    one chunk, the usual case, is returned as it came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _is_hint(event: DecisionEvent, system: str, delivery: str | None) -> bool:
    """Already what the intake hands on (the usual case): no copy needed."""
    return (
        event.decision is None
        and event.system == system
        and event.source == "webhook"
        and event.delivery_id == delivery
    )


def create_app(connector: Connector, lifespan: Any = None) -> Starlette:
    intake = WebhookIntake(connector)

    async def healthz(request: Request) -> Response:
        stale_after = 3 * connector.config.scheduler.poll_interval.total_seconds()
        ages, systems = connector.metrics.poll_ages, list(connector.adapters)
        body, status = await connector.service.ctx.db(
            health_report, connector.store, ages, systems, stale_after
        )
        return JSONResponse(body, status_code=status)

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
