"""The bridge between the core and an adapter: what a caller notices when an adapter is slow,
fails, or answers after the core gave up on it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import connector.core.adapter as bridge_module
from connector.core.adapter import AdapterBridge
from connector.core.errors import UnavailableError
from connector.core.observe import Recorder


class Counting(Recorder):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def adapter_call(self, system: str, method: str, outcome: str, seconds: float) -> None:
        self.calls.append((method, outcome))


class FakeAdapter:
    """Just enough of a TicketAdapter: names its account, and creates slowly when told to."""

    name = "fake"
    decides_locally = False

    def __init__(self) -> None:
        self.asked = 0
        self.fail = False
        self.hold = 0.0
        self.landed = threading.Event()

    def call_budget(self) -> float:
        return 1.0

    def service_identities(self) -> frozenset[str]:
        self.asked += 1
        if self.fail:
            raise UnavailableError("who am I: 503", system=self.name)
        return frozenset({"svc-bot"})

    def create_ticket(self, request: object) -> str:
        time.sleep(self.hold)
        self.landed.set()
        return "FAKE-1"


@pytest.fixture
def bridge():
    pool = ThreadPoolExecutor(2)
    recorder = Counting()
    made = AdapterBridge(FakeAdapter(), pool, recorder)  # type: ignore[arg-type]
    yield made
    pool.shutdown(wait=True)


async def test_the_accounts_names_are_asked_once_per_ttl_not_per_decision(bridge, monkeypatch):
    assert await bridge.service_identities() == {"svc-bot"}
    assert await bridge.service_identities() == {"svc-bot"}
    assert bridge.adapter.asked == 1
    later = time.monotonic() + bridge_module.IDENTITIES_TTL + 1
    monkeypatch.setattr(bridge_module.time, "monotonic", lambda: later)
    await bridge.service_identities()
    assert bridge.adapter.asked == 2


async def test_a_failed_look_up_of_the_account_is_not_kept(bridge):
    bridge.adapter.fail = True
    for _ in range(2):  # each decision asks again (and fails closed), none is answered from a cache
        with pytest.raises(UnavailableError):
            await bridge.service_identities()
    assert bridge.adapter.asked == 2
    bridge.adapter.fail = False
    assert await bridge.service_identities() == {"svc-bot"}


async def test_an_answer_after_the_budget_is_still_recorded_and_the_retry_waits_for_it(bridge, monkeypatch):
    monkeypatch.setattr(bridge, "budget", lambda method: 0.2)
    bridge.adapter.hold = 0.6
    recorded: list[str] = []
    with pytest.raises(UnavailableError) as gave_up:
        await bridge.create_ticket_then(object(), recorded.append)  # type: ignore[arg-type]
    assert gave_up.value.settle >= 0.2  # a retry looks for it no sooner than it could still take
    assert recorded == []
    assert await asyncio.to_thread(bridge.adapter.landed.wait, 5)
    await asyncio.sleep(0.1)
    assert recorded == ["FAKE-1"]  # the thread recorded the late answer itself
    assert bridge.recorder.calls == [("create_ticket", "timeout")]


async def test_recording_that_fails_after_the_call_landed_counts_the_call_as_answered(bridge):
    def broken_store(ref: str) -> None:
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError):
        await bridge.create_ticket_then(object(), broken_store)  # type: ignore[arg-type]
    assert bridge.recorder.calls == [("create_ticket", "ok")]
