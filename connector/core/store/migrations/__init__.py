"""Schema migrations with Alembic, applied at start-up (and by ``approval-connector db upgrade``).

A database made by 0.1.0 (before migrations existed) is recognised by its tables and stamped as
revision 0001 first; an empty one is built by running every revision, so both paths are the same
code. Replicas starting together take a lock first (PostgreSQL advisory lock, a lock file beside an
SQLite database), so the schema is changed once."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.engine import Connection

from connector.core.store.engine import WRITE

HERE = Path(__file__).parent
LOCK_ID = 0x61637231  # "acr1": the advisory lock every replica takes while migrating


class NewerSchema(RuntimeError):
    """The database was migrated by a newer version: this one must not touch it."""


def script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(config)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    return script().get_current_head() or ""


def upgrade(
    engine: Engine, metadata: MetaData, target: str = "head", *, build_empty: bool = True
) -> tuple[str | None, str]:
    """Bring the schema to ``target``; returns (revision before, revision after). An empty
    database gets today's tables at once and is stamped as the head (Alembic's advice; a test
    checks that running every revision builds the very same schema)."""
    scripts = script()
    with _migration_lock(engine), engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        before = MigrationContext.configure(conn).get_current_revision()
        if before is not None and before not in {r.revision for r in scripts.walk_revisions()}:
            raise NewerSchema(
                f"the database's schema is at revision {before}, which this version of "
                f"approval-connector does not know (it knows up to {scripts.get_current_head()}): "
                "a newer version made it; upgrade approval-connector, or use another database"
            )
        tables = set(inspect(conn).get_table_names())
        if before is None and "approval_requests" not in tables and target == "head" and build_empty:
            metadata.create_all(conn)
            _stamp(conn, scripts, scripts.get_current_head() or "head")
            return None, scripts.get_current_head() or ""
        if before is None and "approval_requests" in tables:
            before = "0001"  # a database from 0.1.0: its tables are revision 0001's
            _stamp(conn, scripts, before)
        _run(conn, scripts, target)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after or ""


def _stamp(conn: Connection, scripts: ScriptDirectory, revision: str) -> None:
    def stamp(rev: object, context: object) -> list:
        return scripts._stamp_revs(revision, rev)  # noqa: SLF001 - Alembic's own stamp step

    with EnvironmentContext(Config(), scripts, fn=stamp, destination_rev=revision) as env:
        env.configure(connection=conn)
        env.run_migrations()


def _run(conn: Connection, scripts: ScriptDirectory, target: str) -> None:
    def steps(rev: object, context: object) -> list:
        return scripts._upgrade_revs(target, rev)  # noqa: SLF001 - Alembic's own upgrade step

    with EnvironmentContext(Config(), scripts, fn=steps, destination_rev=target) as env:
        env.configure(connection=conn, render_as_batch=True)
        env.run_migrations()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": LOCK_ID})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
