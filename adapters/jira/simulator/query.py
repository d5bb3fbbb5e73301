"""The JQL subset the simulated Jira evaluates: what the connector and its users' tests write.
Unknown fields and statuses are refused like Jira does (400), even when no issue would match."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.core import clock

from .entities import CATEGORIES, SimIssue

if TYPE_CHECKING:
    from .catalog import JiraCatalog


class JqlError(ValueError):
    """A query the simulated Jira refuses (answered with 400, like the real one)."""


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|!~|>=|<=|=|~|>|<|,|\(|\))|'
    r"(?P<word>cf\[\d+\]|[^\s=!~<>,()\"]+))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}")
        pos = m.end()
        if m["str"] is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", m["str"][1:-1])))
        elif m["op"] is not None:
            out.append(("op", m["op"]))
        else:
            out.append(("word", m["word"]))
    return out


Predicate = Callable[["JiraCatalog", "SimIssue | None"], bool]


def parse_jql(text: str) -> Predicate:
    """AND / OR / NOT / parentheses over: project, key, id, labels, status, statusCategory,
    issuetype, summary, cf[N] or a custom field name; =, !=, ~, in, not in, is (not) EMPTY.
    ORDER BY is accepted and ignored (results come in id order)."""
    tokens = _tokens(re.split(r"(?i)\border\s+by\b", text)[0])
    pos = 0

    def peek(kind: str | None = None, value: str | None = None) -> bool:
        if pos >= len(tokens):
            return False
        k, v = tokens[pos]
        return (kind is None or k == kind) and (value is None or v.lower() == value.lower())

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise JqlError("Error in the JQL Query: the query ended too soon")
        pos += 1
        return tokens[pos - 1]

    def values() -> list[str]:
        if peek("op", "("):
            take()
            out = []
            while True:
                out.append(take()[1])
                if peek("op", ","):
                    take()
                    continue
                if take() != ("op", ")"):
                    raise JqlError("Error in the JQL Query: expected ')'")
                return out
        return [take()[1]]

    def clause() -> Predicate:
        if peek("op", "("):
            take()
            inner = disjunction()
            if take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: expected ')'")
            return inner
        if peek("word", "not"):
            take()
            inner = clause()
            return lambda sim, issue: True if issue is None else not inner(sim, issue)
        field_name = take()[1]
        kind, op = take()
        op = op.lower()
        if kind == "word" and op == "not" and peek("word", "in"):
            take()
            op = "not in"
        elif kind == "word" and op == "is":
            op = "is"
            if peek("word", "not"):
                take()
                op = "is not"
        elif kind == "word" and op != "in":
            raise JqlError(f"Error in the JQL Query: unknown operator {op!r}")
        wanted = values()
        return _predicate(field_name, op, wanted)

    def conjunction() -> Predicate:
        parts = [clause()]
        while peek("word", "and"):
            take()
            parts.append(clause())
        return lambda sim, issue: _combine(all, parts, sim, issue)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek("word", "or"):
            take()
            parts.append(conjunction())
        return lambda sim, issue: _combine(any, parts, sim, issue)

    predicate = disjunction()
    if pos != len(tokens):
        raise JqlError(f"Error in the JQL Query: unexpected {tokens[pos][1]!r}")
    return predicate


def _predicate(field_name: str, op: str, wanted: list[str]) -> Predicate:
    name = field_name.lower()

    def values_of(sim: JiraCatalog, issue: SimIssue) -> list[str]:
        if name == "project":
            project = sim.projects[issue.project]
            return [project.key.lower(), project.id]
        if name in ("key", "issuekey", "issue"):
            return [issue.key.lower()]
        if name == "id":
            return [issue.id]
        if name == "labels":
            return [str(v) for v in issue.fields.get("labels") or []]
        if name == "status":
            status = sim.statuses[issue.status]
            return [status.id, status.name.lower()]
        if name == "statuscategory":
            cat = CATEGORIES[sim.statuses[issue.status].category]
            return [str(cat["id"]), cat["key"], str(cat["name"]).lower()]
        if name == "issuetype":
            return [issue.issuetype, sim.projects[issue.project].issue_types[issue.issuetype].lower()]
        if name in ("summary", "description", "text"):
            return [str(issue.fields.get(name if name != "text" else "summary") or "")]
        if name in ("updated", "created"):
            return [issue.updated if name == "updated" else str(issue.fields.get("created") or issue.updated)]
        fid = _custom_field(sim, field_name)
        value = issue.fields.get(fid)
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]

    def check(sim: JiraCatalog) -> None:
        if name == "status":
            for w in wanted:
                try:
                    sim.lookup_status(w)
                except KeyError:
                    raise JqlError(f"The value '{w}' does not exist for the field 'status'.") from None
        elif name not in (
            "project",
            "key",
            "issuekey",
            "issue",
            "id",
            "labels",
            "statuscategory",
            "issuetype",
            "summary",
            "description",
            "text",
            "updated",
            "created",
        ):
            _custom_field(sim, field_name)
        if name in ("updated", "created") and op not in (">=", ">", "<=", "<"):
            raise JqlError(f"Error in the JQL Query: operator {op!r} is not supported for {field_name}")

    def predicate(sim: JiraCatalog, issue: SimIssue | None) -> bool:
        check(sim)
        if issue is None:
            return True
        have = values_of(sim, issue)
        norm = [w if name == "labels" else w.lower() for w in wanted]
        if op in ("=", "in"):
            return any(w in have for w in norm)
        if op in ("!=", "not in"):
            return not any(w in have for w in norm)
        if op == "~":
            needle = norm[0].strip('"').lower()
            return any(needle in h.lower() for h in have)
        if op in (">=", ">", "<=", "<"):
            return _compare_dates(have[0] if have else "", op, wanted[0])
        if op == "is":
            return not have
        if op == "is not":
            return bool(have)
        raise JqlError(f"Error in the JQL Query: operator {op!r} is not supported for {field_name}")

    return predicate


_RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def _compare_dates(stamp: str, op: str, value: str) -> bool:
    """Relative JQL dates (-30m, -2d, -1w), as Jira evaluates them: against the server's now."""
    match = _RELATIVE.match(value.strip('"'))
    if not match:
        raise JqlError(f"Error in the JQL Query: date value {value!r} is not supported by the simulator")
    threshold = clock.utcnow() - timedelta(seconds=int(match[1]) * _UNIT[match[2]])
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return {">=": when >= threshold, ">": when > threshold, "<=": when <= threshold, "<": when < threshold}[
        op
    ]


def _combine(mode: Any, parts: list[Predicate], sim: JiraCatalog, issue: SimIssue | None) -> bool:
    """``issue`` None validates every clause (unknown fields/statuses fail even with no issues)."""
    if issue is None:
        for part in parts:
            part(sim, None)
        return True
    return mode(part(sim, issue) for part in parts)


def _custom_field(sim: JiraCatalog, ref: str) -> str:
    m = re.fullmatch(r"cf\[(\d+)\]", ref, re.I)
    if m and f"customfield_{m[1]}" in sim.custom_fields:
        return f"customfield_{m[1]}"
    for fid, spec in sim.custom_fields.items():
        if spec["name"].lower() == ref.lower() or fid == ref:
            return fid
    raise JqlError(f"Field '{ref}' does not exist or you do not have permission to view it.")
