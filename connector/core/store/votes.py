"""The votes of quorum routes: recorded once per vote (an INSERT that does nothing when a replica
recorded it first), read back in the order they were recorded for the tally."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .schema import aware, insert_if_absent, votes_table


class VoteQueries(StoreBase):
    def record_vote(
        self,
        conn: Connection,
        request_id: str,
        vote_key: str,
        *,
        vote_id: str,
        voter: str,
        voter_name: str,
        verdict: str,
        counted: bool,
        reason: str | None,
        groups: list[str],
        voted_at: datetime | None,
    ) -> bool:
        """Record one vote; False when it was recorded before (here or on a replica)."""
        c = votes_table.c
        seq = conn.execute(select(func.count()).where(c.request_id == request_id)).scalar() or 0
        return insert_if_absent(
            conn,
            votes_table,
            request_id=request_id,
            vote_key=vote_key,
            vote_id=vote_id,
            voter=voter,
            voter_name=voter_name,
            verdict=verdict,
            counted=counted,
            reason=reason,
            voter_groups=json.dumps(sorted(groups)),
            voted_at=voted_at,
            recorded_at=utcnow(),
            seq=int(seq) + 1,
        )

    def votes(self, request_id: str) -> list[dict[str, Any]]:
        """Every vote recorded for a request, oldest first."""
        c = votes_table.c
        query = select(votes_table).where(c.request_id == request_id).order_by(c.seq, c.recorded_at)
        rows = []
        for row in self._read(query).mappings().all():
            item = dict(row)
            item["voter_groups"] = json.loads(item["voter_groups"] or "[]")
            item["voted_at"] = aware(item["voted_at"])
            item["recorded_at"] = aware(item["recorded_at"])
            rows.append(item)
        return rows
