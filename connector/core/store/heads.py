"""The audit heads this process last saw, per request: a guess that saves a statement. Appending
to a request's chain needs its head (last row number and hash) to chain from; read from the
database that is an UPDATE … RETURNING, then the rows, then a second UPDATE for the new hash.
With the head known, one UPDATE sets the new head only while the stored head is still the one
known (compare-and-set), and the rows follow: one statement fewer. A stale guess (another
replica appended, a transaction rolled back) only makes the UPDATE match nothing, and the
caller falls back to reading the head; so this is never a source of truth."""

from __future__ import annotations

import threading
from collections import OrderedDict

Head = tuple[int, str]  # (last rseq, its hash)

LIMIT = 10_000  # requests remembered; the oldest guesses go first


class KnownHeads:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._heads: OrderedDict[str, Head] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request_id: str) -> Head | None:
        return self._heads.get(request_id)

    def note(self, request_id: str, rseq: int | None, digest: str | None) -> None:
        """What the database holds (a row just read) or will hold once this transaction commits."""
        if rseq is None or digest is None:
            return
        with self._lock:
            self._heads[request_id] = (int(rseq), digest)
            self._heads.move_to_end(request_id)
            while len(self._heads) > self.limit:
                self._heads.popitem(last=False)
