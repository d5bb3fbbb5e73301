"""What runs is what the approver saw. Two keyed MACs with a key the database never holds:

- the *call seal*, stored with the request, over (request id, tool, canonical arguments, digest,
  route, and the approved edit if any): an UPDATE that changes the arguments and recomputes the
  digest in the database no longer matches it, and nothing runs;
- the *ticket seal*, written when the ticket is created where only the connector writes (a Jira
  issue property, a ServiceNow column, the desk's own column) and read back with every decision:
  it binds the digest the approver was shown to the request, so a ticket showing one call cannot
  approve another.

The key comes from ``APPROVAL_CONNECTOR_SEAL_KEY``; when unset, it is generated once into a key
file beside the configuration (mode 0600), with a warning, since every replica must share it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError
from .models import ApprovalRequest, canonical_json, digest_of

log = logging.getLogger("approval_connector")

KEY_ENV = "APPROVAL_CONNECTOR_SEAL_KEY"
KEY_FILE = "approval-connector.key"
MIN_KEY_CHARS = 32
TICKET_SEAL_PREFIX = "acr1"


class Sealer:
    def __init__(self, key: bytes, source: str = "") -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"{source or 'seal key'}: the key must be at least {MIN_KEY_CHARS} characters")
        self._key = key
        self.source = source

    @classmethod
    def load(cls, env: Mapping[str, str], folder: Path, *, create: bool = True) -> Sealer:
        """The key from the environment, else from the key file in ``folder`` (made if absent)."""
        value = env.get(KEY_ENV, "").strip()
        if value:
            return cls(value.encode("utf-8"), f"${KEY_ENV}")
        path = folder / KEY_FILE
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if not create:
                raise ConfigError(f"no seal key: set {KEY_ENV} or create {path}") from None
            try:
                text = _create_key_file(path)
            except FileExistsError:  # another process made it a moment ago
                text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the seal key file {path}: {exc.strerror}") from None
        return cls(text.encode("utf-8"), str(path))

    def audit_key(self) -> bytes:
        """A key of its own for sealing the audit trail (derived; the seal key never leaves)."""
        return hmac.new(self._key, b"approval-connector audit seals", hashlib.sha256).digest()

    def _mac(self, *parts: object) -> str:
        message = canonical_json(list(parts)).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # --- the stored call ---------------------------------------------------------------------------
    def call_seal(self, request: ApprovalRequest) -> str:
        return self._mac(
            "call",
            request.id,
            request.tool_name,
            request.arguments,
            request.arguments_digest,
            request.route,
            request.approved_arguments,
            request.approved_digest,
            request.ticket_sealed,
        )

    def call_intact(self, request: ApprovalRequest, seal: str | None) -> bool:
        return bool(seal) and hmac.compare_digest(self.call_seal(request), seal or "")

    # --- what the ticket showed ------------------------------------------------------------------
    def ticket_seal(self, request: ApprovalRequest) -> str:
        """``acr1:<digest>:<mac>``: the digest the approver sees, bound to this request."""
        digest = request.arguments_digest
        return f"{TICKET_SEAL_PREFIX}:{digest}:{self._mac('ticket', request.id, digest)[:40]}"

    def ticket_problem(self, request: ApprovalRequest, shown: str | None) -> str | None:
        """Why the seal a ticket shows does not vouch for this stored call; None when it does."""
        if not shown:
            return "the ticket shows no seal the connector wrote (removed, or not readable)"
        if not hmac.compare_digest(self.ticket_seal(request), shown.strip()):
            parts = shown.strip().split(":")
            if len(parts) == 3 and parts[1] != request.arguments_digest:
                return (
                    f"the ticket showed arguments with digest {parts[1][:16]}…, but the stored call has "
                    f"{request.arguments_digest[:16]}…"
                )
            return "the seal on the ticket was altered"
        return None


def call_problem(sealer: Sealer, request: ApprovalRequest) -> str | None:
    """Why the stored call is not the one that was submitted (and approved), or None."""
    if digest_of(request.arguments) != request.arguments_digest or (
        request.approved_arguments is not None
        and digest_of(request.approved_arguments) != request.approved_digest
    ):
        return "the stored arguments do not match their digest (altered in the database)"
    if not sealer.call_intact(request, request.seal):
        return "the stored call does not match its seal (altered in the database)"
    return None


def _create_key_file(path: Path) -> str:
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    log.warning(
        "generated the seal key %s (mode 0600); with several replicas or hosts, set %s to the same "
        "value on every one instead, and keep it out of the database",
        path,
        KEY_ENV,
    )
    return key
