"""docs/monitoring.md names every metric the code exports (read from a real connector's /metrics
text), so a metric added without its documentation fails here."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_every_exported_metric_is_documented(connector):
    exported = set(re.findall(r"^# TYPE (\S+) ", connector.metrics.render().decode(), flags=re.M))
    assert "approval_last_successful_poll_age_seconds" in exported and "approval_store_up" in exported
    documented = (REPO / "docs" / "monitoring.md").read_text()
    missing = sorted(name for name in exported if f"`{name}`" not in documented)
    assert missing == []
