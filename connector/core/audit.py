"""The audit trail lives with the other tables in ``connector.core.store.audit``."""

from connector.core.store.audit import GENESIS, AuditLog, audit_table, row_hash  # noqa: F401
