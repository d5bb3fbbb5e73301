"""A stateful Jira (Cloud or Data Center) for tests and demos, moto-style: in-memory state
(``state``), thin routes (``routes``), a JQL subset (``query``), explicit transitions. Works
in-process on ``responses`` (``sim.install(rsps)``) and as a real HTTP server
(``with sim.serve() as url``), and sends signed admin webhooks on transitions.

Human actions go through helpers, e.g. ``sim.transition("OPS-1", "Approve", actor="alice")``.
``JiraSimulator.seeded_demo()`` gives project OPS with an approval workflow and four users."""

from .api import JiraSimulator
from .entities import (
    CATEGORIES,
    PRIORITIES,
    RESOLUTIONS,
    Refusal,
    SimIssue,
    SimProject,
    SimStatus,
    SimTransition,
    SimUser,
    now_text,
)
from .query import JqlError, parse_jql
from .state import JiraState

__all__ = [
    "CATEGORIES",
    "PRIORITIES",
    "RESOLUTIONS",
    "JiraSimulator",
    "JiraState",
    "JqlError",
    "Refusal",
    "SimIssue",
    "SimProject",
    "SimStatus",
    "SimTransition",
    "SimUser",
    "now_text",
    "parse_jql",
]
