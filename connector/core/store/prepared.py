"""The hot statements of the gate's and the pool's path, compiled once per database and run as
driver SQL. ``Connection.execute`` spends more Python per statement (compile-cache look-up,
execution context, result metadata: ~60 µs on SQLite here) than SQLite spends running it, and
a gated call makes four of them. Values still pass through the column types' own bind and
result processors, so rows are written and read back exactly as ``Connection.execute`` would;
errors still go through SQLAlchemy's handling, so they are SQLAlchemy's (IntegrityError, a lost
connection invalidated), and cursor events still fire (statement counters see them)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import ClauseElement


class Prepared:
    """One statement compiled for one dialect: its SQL text, where each parameter goes, the
    values the statement itself holds (constants, column defaults), and how each value is
    converted on the way in and each returned column on the way out."""

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
        many: bool = False,
    ) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None, for_executemany=many
        )
        if compiled.escaped_bind_names:
            raise ValueError(f"parameter names need escaping: {sorted(compiled.escaped_bind_names)}")
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("an expanding IN cannot be prepared: give the IN its values as bindparams")
        self.sql = compiled.string
        self.positional = dialect.positional
        self.names: tuple[str, ...] = (
            tuple(compiled.positiontup or ()) if self.positional else tuple(compiled.bind_names.values())
        )
        binds = {name: bind for bind, name in compiled.bind_names.items()}  # as the SQL names them
        self.fixed: dict[str, Any] = {
            name: bind.effective_value for name, bind in binds.items() if not bind.required
        }
        for column in getattr(compiled, "insert_prefetch", ()):  # defaults SQLAlchemy would fill in
            default = column.default
            if default is None or not default.is_scalar:
                raise ValueError(f"column {column.key} has a default that cannot be prepared")
            self.fixed[column.key] = default.arg
        self.convert = {
            name: proc
            for name, bind in binds.items()
            if (proc := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        returns = bool(compiled.returning) or getattr(statement, "is_select", False)
        returned = statement.exported_columns if returns else None  # type: ignore[attr-defined]
        self.keys: tuple[str, ...] = tuple(c.key for c in returned) if returned is not None else ()
        self.readers = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned or ()
        )

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for one row of ``values`` (the caller's names)."""
        merged = {**self.fixed, **values} if self.fixed else values
        convert = self.convert
        out = []
        for name in self.names:
            value = merged[name]
            proc = convert.get(name)
            out.append(proc(value) if proc is not None and value is not None else value)
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Returned rows as mappings of column key to value, converted as SQLAlchemy would."""
        keys, readers = self.keys, self.readers
        return [
            {
                k: (r(v) if r is not None and v is not None else v)
                for k, r, v in zip(keys, readers, row, strict=True)
            }
            for row in raw
        ]


class Outcome:
    """What a prepared statement did: rows changed and the rows it returned (as mappings)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rowcount: int, rows: list[dict[str, Any]]) -> None:
        self.rowcount = rowcount
        self.rows = rows

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None


# per database (a dialect instance knows its server's version, which can change the SQL), per
# statement object: the hot statements are built once, at import, and live as long as the process
_compiled: weakref.WeakKeyDictionary[Dialect, dict[Any, Prepared]] = weakref.WeakKeyDictionary()


def prepared(
    conn: Connection, statement: ClauseElement, column_keys: Sequence[str] | None = None, many: bool = False
) -> Prepared:
    """``statement`` compiled for ``conn``'s database, once per column set and single/many."""
    dialect = conn.dialect
    cache = _compiled.get(dialect)
    if cache is None:
        cache = _compiled.setdefault(dialect, {})
    key = (statement, tuple(column_keys) if column_keys else None, many)
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = Prepared(statement, dialect, column_keys, many)
    return entry


def run(
    conn: Connection,
    statement: ClauseElement,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    column_keys: Sequence[str] | None = None,
) -> Outcome:
    """Run ``statement`` with ``values`` (one mapping, or a sequence of them for many rows of an
    INSERT) inside ``conn``'s transaction."""
    many = not isinstance(values, Mapping)
    if many and not values:
        return Outcome(0, [])
    first = values[0] if many else values  # type: ignore[index]
    if column_keys is None and getattr(statement, "is_insert", False):
        column_keys = tuple(first)  # an INSERT of exactly these columns (the others: defaults)
    entry = prepared(conn, statement, column_keys, many)
    if many:
        params: Any = [entry.parameters(v) for v in values]  # type: ignore[union-attr]
    else:
        params = entry.parameters(values)  # type: ignore[arg-type]
    return _execute(conn, entry, params, many)


def _execute(conn: Connection, entry: Prepared, params: Any, many: bool) -> Outcome:
    """The statement on the connection's own DB-API cursor, inside its transaction. Cursor events
    fire as for any statement (counters listen to them: no ExecutionContext here, which the
    event's contract allows); a driver error goes through SQLAlchemy's own handling, so it is
    raised as SQLAlchemy's (IntegrityError…) and a lost connection is invalidated and flagged,
    exactly as from ``Connection.execute``. Going through ``exec_driver_sql`` instead cost
    SQLAlchemy's result set-up per statement, which on a request row reads 45 column
    descriptions (psycopg builds an object for each)."""
    cursor = None
    try:
        cursor = conn.connection.cursor()
        conn.dispatch.before_cursor_execute(conn, cursor, entry.sql, params, None, many)
        if many:
            cursor.executemany(entry.sql, params)
        else:
            cursor.execute(entry.sql, params)
        # with RETURNING, the drivers' rowcount is not to be trusted (SQLite's counts only once
        # the rows were read, psycopg's is gone once they were): each changed row returns one row
        rows = entry.rows(cursor.fetchall()) if entry.keys else []
        count = len(rows) if entry.keys else cursor.rowcount
        conn.dispatch.after_cursor_execute(conn, cursor, entry.sql, params, None, many)
    except BaseException as exc:  # noqa: BLE001 - SQLAlchemy's handler wraps or re-raises it
        conn._handle_dbapi_exception(exc, entry.sql, params, cursor, None)  # noqa: SLF001
        raise
    finally:
        if cursor is not None:
            cursor.close()
    return Outcome(count, rows)
