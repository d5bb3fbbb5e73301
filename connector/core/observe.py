"""What the core reports about its work, as plain method calls. The application turns them into
Prometheus metrics (``connector.app.metrics``); the core imports no metrics library."""

from __future__ import annotations


class Recorder:
    """No-op by default; subclasses record. Every method must be cheap and never raise."""

    def decision(self, result: str) -> None:
        """A decision applied (approved / rejected) or refused."""

    def run(self, outcome: str) -> None:
        """A tool run ended: succeeded / failed / in_doubt."""

    def poll(self, system: str, seconds: float, ok: bool) -> None:
        """One poll of one system."""

    def adapter_call(self, system: str, method: str, outcome: str, seconds: float) -> None:
        """One adapter method call through the bridge: ok / error / timeout."""

    def api_call(self, system: str, outcome: str) -> None:
        """One HTTP call an adapter made (outcome: status code, timeout, error)."""

    def problem(self, kind: str) -> None:
        """A request was marked and skipped (tool missing, template failing, ticket unreadable)."""
