"""``db upgrade``: the store's schema brought to the newest migration (Alembic), for operators
who upgrade the schema as a step of their own rather than at start-up."""

from __future__ import annotations

from connector.app.cli.options import command
from connector.app.cli.output import out
from connector.app.cli.session import STATE
from connector.core.errors import UserError


@command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations up to the newest (a database made by an earlier version
    keeps its rows)."""
    from connector.app.config import load_config
    from connector.core.store.engine import make_engine
    from connector.core.store.migrations import upgrade
    from connector.core.store.schema import metadata

    config = load_config(STATE.config)
    engine = make_engine(config.store.url)
    try:
        before, after = upgrade(engine, metadata)
    except RuntimeError as exc:  # a migration refused (e.g. an audit trail that does not verify)
        raise UserError(f"store: the schema upgrade stopped: {exc}") from None
    finally:
        engine.dispose()
    if before == after:
        out.print(f"store schema already at {after}")
    else:
        out.print(f"store schema upgraded from {before or 'empty'} to {after}")
