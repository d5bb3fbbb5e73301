"""The encoded-query subset the simulator understands, with ServiceNow's pitfall kept on
purpose: a term naming an unknown column is silently dropped, so the rest of the query runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TERM = re.compile(
    r"^(?P<field>[a-z_][a-z0-9_.]*)"
    r"(?P<op>ISNOTEMPTY|ISEMPTY|NOT LIKE|LIKE|STARTSWITH|ENDSWITH|NOT IN|IN|!=|>=|<=|=|>|<)"
    r"(?P<value>.*)$",
    re.DOTALL,
)


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str


@dataclass
class Query:
    clauses: list[list[Term]]  # AND of ORs
    order: list[tuple[str, bool]]  # (field, descending)


def parse(text: str, known: Callable[[str], bool]) -> Query:
    """Split on ^; ^OR joins a term to the previous clause; ORDERBY/ORDERBYDESC sort. Terms on
    columns ``known`` rejects are dropped (as the platform does)."""
    clauses: list[list[Term]] = []
    order: list[tuple[str, bool]] = []
    for raw in text.split("^") if text else []:
        part = raw.strip()
        if not part:
            continue
        if part.startswith("ORDERBYDESC"):
            if known(part[11:]):
                order.append((part[11:], True))
            continue
        if part.startswith("ORDERBY"):
            if known(part[7:]):
                order.append((part[7:], False))
            continue
        is_or = part.startswith("OR") and clauses
        if is_or:
            part = part[2:]
        match = _TERM.match(part)
        if not match or not known(match.group("field")):
            continue
        term = Term(match.group("field"), match.group("op"), match.group("value"))
        if is_or:
            clauses[-1].append(term)
        else:
            clauses.append([term])
    return Query(clauses, order)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(left: str, right: str) -> int:
    a, b = _num(left), _num(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    return (left > right) - (left < right)


def test(term: Term, actual: str) -> bool:
    op, want = term.op, term.value
    if op == "=":
        return actual == want
    if op == "!=":
        return actual != want
    if op == "ISEMPTY":
        return actual == ""
    if op == "ISNOTEMPTY":
        return actual != ""
    if op == "STARTSWITH":
        return actual.startswith(want)
    if op == "ENDSWITH":
        return actual.endswith(want)
    if op == "LIKE":
        return want.lower() in actual.lower()
    if op == "NOT LIKE":
        return want.lower() not in actual.lower()
    if op == "IN":
        return actual in want.split(",")
    if op == "NOT IN":
        return actual not in want.split(",")
    if actual == "":
        return False  # empty values never satisfy a range
    sign = _compare(actual, want)
    return {">": sign > 0, "<": sign < 0, ">=": sign >= 0, "<=": sign <= 0}[op]


def matches(query: Query, get: Callable[[str], str]) -> bool:
    return all(any(test(term, get(term.field)) for term in clause) for clause in query.clauses)


def sort(
    rows: list[dict[str, str]], query: Query, get: Callable[[dict[str, str], str], str]
) -> list[dict[str, str]]:
    for field, desc in reversed(query.order):
        rows = sorted(rows, key=lambda r, f=field: _sort_key(get(r, f)), reverse=desc)
    return rows


def _sort_key(text: str) -> tuple[int, float, str]:
    num = _num(text)
    return (0, num, "") if num is not None else (1, 0.0, text)
