"""A throw-away PostgreSQL schema for a test or a benchmark: created, handed out as a store URL
whose search_path is that schema, and dropped afterwards (so runs never see each other's rows)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote


@contextmanager
def temporary_schema(url: str, prefix: str = "t") -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        # a worker thread of the user's connector may still be finishing a write (a delivery the
        # last run kicked): DROP can deadlock with it; it ends within moments, so try again
        for attempt in range(10):
            try:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                break
            except OperationalError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        admin.dispose()
