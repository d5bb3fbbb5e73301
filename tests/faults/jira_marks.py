"""What a person reading the simulated Jira issues would count: the connector's outcome comments
(each carries its report id as a comment property) and contradictions between them."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from adapters.jira.render import REPORT_PROPERTY

# how each final outcome's comment reads (connector/core/reports.py), as a person tells them apart
FINAL_TEXTS = {
    "succeeded": re.compile(r"^Executed "),
    "failed": re.compile(r"^Approved by .*, but .* failed"),
    "in_doubt": re.compile(r"lost track of the run"),
    "rejected": re.compile(r"^Rejection recorded"),
    "expired": re.compile(r"^No decision before the deadline \("),
}


def final_outcomes(comments: list[dict[str, Any]]) -> list[str]:
    """The final outcome every outcome comment states, in order."""
    out = []
    for comment in comments:
        body = str(comment.get("body") or "")
        out.extend(kind for kind, pattern in FINAL_TEXTS.items() if pattern.search(body))
    return out


def report_ids(comments: list[dict[str, Any]]) -> list[str]:
    """The report id of every comment that carries one, in order (duplicates kept)."""
    out = []
    for comment in comments:
        value = (comment.get("properties") or {}).get(REPORT_PROPERTY)
        if isinstance(value, dict) and isinstance(value.get("report"), str):
            out.append(value["report"])
    return out


def duplicate_reports(issues: dict[str, Any]) -> dict[str, list[str]]:
    """Issue key -> report ids posted more than once on it."""
    out = {}
    for issue in issues.values():
        twice = [rid for rid, n in Counter(report_ids(issue.comments)).items() if n > 1]
        if twice:
            out[issue.key] = twice
    return out
