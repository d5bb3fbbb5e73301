"""The simulated instance's tables and clock: schema (tables, inherited columns, dictionary and
choice rows kept in step), raw rows, dot-walked reads, and time with one-second resolution."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from connector.core import clock
from connector.testing.simulator import SimulatedAPI

from .schema import SYS_FIELDS, TASK_TABLES, Column, Table, define_base_schema, new_sys_id

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ServiceNowTables(SimulatedAPI):
    """``tables`` (schema) and ``rows`` (table -> sys_id -> row, every value a string)."""

    system_name = "servicenow"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.tables: dict[str, Table] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {}
        self.counters: dict[str, int] = {}
        self._frozen: datetime | None = None
        self._skew = timedelta(0)
        define_base_schema(self)

    # --- time -------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return (self._frozen or clock.utcnow()) + self._skew

    def stamp(self) -> str:
        return self.now().strftime(TIME_FORMAT)  # one-second resolution, like the platform

    def freeze(self, at: str | None = None) -> None:
        """Stop the clock (at 'YYYY-MM-DD HH:MM:SS' UTC if given): many updates share a second."""
        with self.lock:
            self._skew = timedelta(0)
            self._frozen = (
                datetime.strptime(at, TIME_FORMAT).replace(tzinfo=timezone.utc) if at else self.now()
            )

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._skew += timedelta(seconds=seconds)

    # --- schema -----------------------------------------------------------------------------------------
    def add_table(
        self,
        name: str,
        *,
        parent: str = "",
        columns: dict[str, Column] | None = None,
        prefix: str = "",
        audited: bool = False,
    ) -> None:
        self.tables[name] = Table(name, parent, dict(columns or {}), prefix, audited)
        self.rows.setdefault(name, {})
        if "sys_db_object" in self.tables:
            self.sync_meta()

    def add_field(self, table: str, element: str, type: str = "string", reference: str = "") -> None:  # noqa: A002
        """A custom column (u_...) as an admin would add it."""
        with self.lock:
            self.tables[table].columns[element] = Column(type, reference)
            self.sync_meta()

    def remove_field(self, table: str, element: str) -> None:
        with self.lock:
            for name in self.chain(table):
                self.tables[name].columns.pop(element, None)
            self.sync_meta()

    def add_choice(
        self, table: str, element: str, value: str, label: str = "", inactive: bool = False
    ) -> None:
        with self.lock:
            seq = len(
                [
                    r
                    for r in self.rows["sys_choice"].values()
                    if r["name"] == table and r["element"] == element
                ]
            )
            self.insert_raw(
                "sys_choice",
                {
                    "name": table,
                    "element": element,
                    "value": str(value),
                    "label": label or str(value),
                    "sequence": str((seq + 1) * 100),
                    "inactive": "true" if inactive else "false",
                    "language": "en",
                },
            )

    def remove_choice(self, table: str, element: str, value: str) -> None:
        with self.lock:
            rows = self.rows["sys_choice"]
            for sys_id in [
                k
                for k, r in rows.items()
                if r["name"] == table and r["element"] == element and r["value"] == value
            ]:
                del rows[sys_id]

    def sync_meta(self) -> None:
        """sys_db_object and sys_dictionary mirror the schema (fields live on the defining table)."""
        objects, dictionary = {}, {}
        for table in self.tables.values():
            objects[table.sys_id] = self._stamped(
                {
                    "sys_id": table.sys_id,
                    "name": table.name,
                    "label": table.name.replace("_", " ").title(),
                    "super_class": self.tables[table.parent].sys_id if table.parent else "",
                }
            )
            own = dict(table.columns)
            if not table.parent:
                own.update(
                    {name: Column("integer" if name == "sys_mod_count" else "string") for name in SYS_FIELDS}
                )
            for element, column in own.items():
                sys_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{table.name}.{element}").hex
                dictionary[sys_id] = self._stamped(
                    {
                        "sys_id": sys_id,
                        "name": table.name,
                        "element": element,
                        "internal_type": column.type,
                        "reference": column.reference,
                        "column_label": column.label or element.replace("_", " "),
                        "mandatory": "false",
                    }
                )
        self.rows["sys_db_object"] = objects
        self.rows["sys_dictionary"] = dictionary

    def _stamped(self, row: dict[str, str]) -> dict[str, str]:
        stamp = self.stamp()
        return {
            "sys_created_on": stamp,
            "sys_created_by": "system",
            "sys_updated_on": stamp,
            "sys_updated_by": "system",
            "sys_mod_count": "0",
            **row,
        }

    def chain(self, table: str) -> list[str]:
        chain = []
        while table:
            chain.append(table)
            table = self.tables[table].parent
        return chain

    def columns(self, table: str) -> dict[str, Column]:
        out: dict[str, Column] = {
            name: Column("integer" if name == "sys_mod_count" else "string") for name in SYS_FIELDS
        }
        for name in reversed(self.chain(table)):
            out.update(self.tables[name].columns)
        return out

    def known(self, table: str, path: str) -> bool:
        """Whether a (dot-walked) column exists; unknown ones are dropped from queries."""
        cols = self.columns(table)
        head, _, rest = path.partition(".")
        if head not in cols:
            return False
        if not rest:
            return True
        target = cols[head].reference
        return bool(target) and target in self.tables and self.known(target, rest)

    def value_at(self, table: str, row: dict[str, str], path: str) -> str:
        head, _, rest = path.partition(".")
        raw = row.get(head, "")
        if not rest:
            return raw
        target = self.columns(table).get(head, Column()).reference
        found = self.lookup(target, raw)
        return self.value_at(found[0], found[1], rest) if found else ""

    def lookup(self, table: str, sys_id: str) -> tuple[str, dict[str, str]] | None:
        """A referenced row; a reference to ``task`` finds the row in any task table."""
        if not sys_id:
            return None
        for name in TASK_TABLES if table == "task" else (table,):
            row = self.rows.get(name, {}).get(sys_id)
            if row is not None:
                return name, row
        return None

    def insert_raw(self, table: str, values: dict[str, str], user: str = "system") -> dict[str, str]:
        stamp = self.stamp()
        row = {name: column.default for name, column in self.columns(table).items()}
        row.update(
            {
                "sys_id": values.get("sys_id") or new_sys_id(),
                "sys_created_on": stamp,
                "sys_created_by": user,
                "sys_updated_on": stamp,
                "sys_updated_by": user,
                "sys_mod_count": "0",
            }
        )
        row.update({k: str(v) for k, v in values.items() if k != "sys_id"})
        self.rows[table][row["sys_id"]] = row
        return row
