"""What the simulated Jira holds (users, statuses, workflow transitions, projects, issues) and the
refusal a state change raises, answered with Jira's error JSON (``errorMessages`` + ``errors``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.core import clock
from connector.testing.simulator import SimResponse

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
RESOLUTIONS = {"10000": "Done", "10001": "Won't Do", "10002": "Failed"}


def now_text() -> str:
    """Jira's timestamp format, millisecond resolution: 2026-01-21T10:14:05.412+0000."""
    return stamp_of(clock.utcnow())


def now_after(previous: str) -> str:
    """Now, or one millisecond after ``previous`` when the clock has not moved past it yet: an
    edit made within the same millisecond still shows as later."""
    earliest = datetime.strptime(previous, "%Y-%m-%dT%H:%M:%S.%f%z") + timedelta(milliseconds=1)
    return stamp_of(max(clock.utcnow(), earliest))


def stamp_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def error(status: int, *messages: str, errors: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, {"errorMessages": list(messages), "errors": errors or {}})


class Refusal(Exception):
    """Jira refuses the change; routes answer ``status`` with ``body``, helpers raise ValueError."""

    def __init__(self, status: int, *messages: str, errors: dict[str, str] | None = None) -> None:
        self.status = status
        self.body: dict[str, Any] = {"errorMessages": list(messages), "errors": errors or {}}
        super().__init__(f"{status} {self.body}")

    def response(self) -> SimResponse:
        return SimResponse(self.status, self.body)


@dataclass
class SimUser:
    name: str
    account_id: str
    email: str
    display: str
    token: str = ""
    key: str = ""
    groups: set[str] = field(default_factory=set)
    admin: bool = False
    account_type: str = "atlassian"


@dataclass
class SimStatus:
    id: str
    name: str
    category: str


@dataclass
class SimTransition:
    id: str
    name: str
    to: str
    sources: list[str] | None  # None = global
    screen_fields: list[str] = field(default_factory=list)
    required_fields: list[str] = field(default_factory=list)
    comment_allowed: bool = True
    groups: set[str] | None = None  # condition: only members may run it


@dataclass
class SimProject:
    id: str
    key: str
    name: str
    issue_types: dict[str, str]  # id -> name
    initial_status: str
    components: dict[str, str] = field(default_factory=dict)  # id -> name
    counter: int = 0
    # project permission (EDIT_ISSUES, EDIT_OWN_COMMENTS, EDIT_ALL_COMMENTS) -> groups granted it;
    # a permission not listed is granted to every user
    permissions: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class SimIssue:
    id: str
    key: str
    project: str
    issuetype: str
    status: str
    fields: dict[str, Any]
    reporter: str
    created: str
    updated: str
    comments: list[dict[str, Any]] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)  # entity properties: key -> JSON value
    hidden_searches: int = 0
    creator: str = ""  # who created it (the reporter can be set to someone else at creation)
