"""The kit's assertions, phrased as what a user notices: the tool ran once with these arguments,
it did not run, the ticket got this comment, the request expired. A failure says what was
expected, what happened, and the state of every request and ticket, in plain lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.core.models import ApprovalRequest, RequestState
from connector.testing.runs import Run

if TYPE_CHECKING:
    from connector.testing.flow import RequestLike
    from connector.testing.runs import RunLog


class Expectations:
    """Mixed into ApprovalFlow (which supplies the request, comment and summary helpers)."""

    run_log: RunLog

    # supplied by ApprovalFlow
    def request(self, which: RequestLike = None, *, tool: str | None = None) -> ApprovalRequest: ...
    def comments(self, which: RequestLike = None) -> list[str]: ...
    def summary(self) -> str: ...

    # --- runs -----------------------------------------------------------------------------------
    def runs(self, tool: str | None = None) -> list[Run]:
        """Every time a tool body ran (of ``tool`` only, if given), in order."""
        return self.run_log.of(tool)

    def assert_ran_once(self, tool: str, arguments: Mapping[str, Any] | None = None, **subset: Any) -> Run:
        """``tool`` ran exactly once; with ``arguments`` it got exactly these (as validated by its
        schema), and every keyword given must equal the argument of that name."""
        __tracebackhide__ = True  # pytest shows the test's line, not the kit's
        runs = self.runs(tool)
        wanted = _wanted(arguments, subset)
        if len(runs) != 1:
            raise AssertionError(
                f"{tool} ran {_times(len(runs))}, expected once{wanted}{_shown_runs(runs)}\n{self.summary()}"
            )
        run = runs[0]
        problems = []
        if arguments is not None and run.arguments != dict(arguments):
            problems.append(f"arguments {run.arguments!r} are not {dict(arguments)!r}")
        for key, value in subset.items():
            if key not in run.arguments:
                problems.append(f"it had no argument {key!r}")
            elif run.arguments[key] != value:
                problems.append(f"{key}={run.arguments[key]!r}, expected {value!r}")
        if problems:
            raise AssertionError(f"{tool} ran once, but " + "; ".join(problems) + f"\n{self.summary()}")
        return run

    def assert_not_run(self, tool: str | None = None) -> None:
        """``tool`` (any tool, if omitted) never ran."""
        __tracebackhide__ = True  # pytest shows the test's line, not the kit's
        runs = self.runs(tool)
        if runs:
            name = tool or "no tool"
            listed = _shown_runs(runs).removeprefix("; it ran with:")
            raise AssertionError(
                f"expected {name} not to run, but it ran {_times(len(runs))}:{listed}\n{self.summary()}"
            )

    # --- what the ticket shows ------------------------------------------------------------------
    def assert_commented(
        self, text: str | re.Pattern[str], which: RequestLike = None, *, regex: bool = False
    ) -> str:
        """Some comment on the request's ticket contains ``text`` (a substring; a regular
        expression when ``regex`` or a compiled pattern). Returns that comment."""
        __tracebackhide__ = True  # pytest shows the test's line, not the kit's
        comments = self.comments(which)
        pattern = text if isinstance(text, re.Pattern) else re.compile(text if regex else re.escape(text))
        for comment in comments:
            if pattern.search(comment):
                return comment
        shown = "\n".join(f"  - {_short(c)}" for c in comments) or "  (none)"
        how = "matching" if regex or isinstance(text, re.Pattern) else "containing"
        raise AssertionError(
            f"no comment on the ticket {how} {pattern.pattern if how == 'matching' else text!r}; "
            f"its comments:\n{shown}\n{self.summary()}"
        )

    # --- outcomes -------------------------------------------------------------------------------
    def assert_state(self, state: RequestState | str, which: RequestLike = None) -> ApprovalRequest:
        """The request is in ``state`` (a RequestState or its name, e.g. "SUCCEEDED")."""
        __tracebackhide__ = True  # pytest shows the test's line, not the kit's
        wanted = RequestState(state.upper()) if isinstance(state, str) else state
        request = self.request(which)
        if request.state is not wanted:
            detail = f" ({request.problem})" if request.problem else ""
            raise AssertionError(
                f"request {request.id} ({request.tool_name}) is {request.state.value}{detail}, "
                f"expected {wanted.value}\n{self.summary()}"
            )
        return request

    def assert_expired(self, which: RequestLike = None) -> ApprovalRequest:
        """The request expired (its deadline passed undecided) and its tool did not run for it."""
        __tracebackhide__ = True  # pytest shows the test's line, not the kit's
        request = self.assert_state(RequestState.EXPIRED, which)
        ran = [r for r in self.runs(request.tool_name) if r.call_id == request.id]
        if ran:
            raise AssertionError(f"request {request.id} expired, yet {request.tool_name} ran for it")
        return request


def _wanted(arguments: Mapping[str, Any] | None, subset: Mapping[str, Any]) -> str:
    if arguments is not None:
        return f" with {dict(arguments)!r}"
    if subset:
        return " with " + ", ".join(f"{k}={v!r}" for k, v in subset.items())
    return ""


def _times(count: int) -> str:
    return {0: "0 times", 1: "once", 2: "twice"}.get(count, f"{count} times")


def _shown_runs(runs: list[Run]) -> str:
    if not runs:
        return ""
    return "; it ran with:\n" + "\n".join(f"  - {r.tool}({r.arguments!r})" for r in runs)


def _short(text: str, limit: int = 300) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."
