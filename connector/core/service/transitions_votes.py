"""The votes part of the only writer of a request's state (see transitions.py): a new vote is
recorded, audited and listed on the ticket in one transaction, once across replicas (the vote's
row is inserted once; its comment goes out under a stable outbox id). Votes change no state: the
tally they reach is applied through ``Transitions.decided`` like any decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.core.models import OutcomeReport


class VoteTransitions:
    """Needs ``store``, ``enqueue_report`` of ``Transitions``."""

    def voted(self, request_id: str, rows: Sequence[tuple[dict[str, Any], OutcomeReport]]) -> int:
        """Record each (vote row, its comment); returns how many were new here."""
        new = 0
        with self.store.transaction() as conn:  # type: ignore[attr-defined]
            for row, report in rows:
                if not self.store.record_vote(conn, request_id, **row):  # type: ignore[attr-defined]
                    continue  # a replica (or an earlier poll) recorded it first
                new += 1
                details = {
                    "vote": row["vote_id"],
                    "verdict": row["verdict"],
                    "voter": row["voter_name"] or row["voter"],
                    "voter_id": row["voter"],
                    "counted": row["counted"],
                    "reason": row["reason"],
                    "groups": row["groups"],
                    "voted_at": row["voted_at"].isoformat() if row["voted_at"] else None,
                }
                self.store.audit.append(conn, request_id, "vote", row["voter"], details)  # type: ignore[attr-defined]
                self.enqueue_report(conn, report)  # type: ignore[attr-defined]  # like any note
        return new
