"""What one conversation run learns while the team works: each gated call it made and whether the
call deferred (the tool answered "pending") or already had its outcome (auto route, bounded
wait). Held in a context variable, which AutoGen's runtime tasks inherit from ``team.run``, so
the gated tool, the gatekeeper and the termination condition all see the same record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from connector.core.models import ApprovalRequest

GATEKEEPER = "approval_gatekeeper"  # the source of every message that resumes a conversation


@dataclass
class RunRecorder:
    kind: str = "start"  # start | continue | question
    calls: list[tuple[ApprovalRequest, bool]] = field(default_factory=list)  # (request, deferred)

    def note(self, request: ApprovalRequest, deferred: bool) -> None:
        self.calls.append((request, deferred))

    @property
    def deferred(self) -> list[ApprovalRequest]:
        return [r for r, waits in self.calls if waits]

    @property
    def inline(self) -> list[str]:
        return [r.id for r, waits in self.calls if not waits]


_RECORDER: ContextVar[RunRecorder | None] = ContextVar("approval_conversation_run", default=None)


def current_run() -> RunRecorder | None:
    return _RECORDER.get()


def note_call(request: ApprovalRequest, deferred: bool) -> None:
    """Called by the gated tool and the gatekeeper after a call was submitted."""
    recorder = _RECORDER.get()
    if recorder is not None:
        recorder.note(request, deferred)


@contextmanager
def recording(recorder: RunRecorder) -> Iterator[RunRecorder]:
    token = _RECORDER.set(recorder)
    try:
        yield recorder
    finally:
        _RECORDER.reset(token)
