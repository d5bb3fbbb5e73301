"""Webhooks sent by a business rule on the instance: verified by HMAC-SHA256, parsed into hints.
A hint only makes the service re-read the record; nothing in a body is ever trusted as a decision.

Signature: ``X-SN-Webhook-Signature: sha256=<base64(HMAC-SHA256(secret, timestamp + "." + raw_body))>``
with the timestamp (UNIX seconds) in ``X-SN-Webhook-Timestamp``, which limits replays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from connector.core import clock
from connector.core.errors import WebhookRejected
from connector.core.http import header
from connector.core.models import DecisionEvent

from .settings import WebhookSettings

MAX_BODY = 256 * 1024


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The header value ServiceNow's script computes (GlideCertificateEncryption.generateMac
    with the Base64 of the secret as key returns exactly this Base64 MAC)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode("ascii")


def verify(
    settings: WebhookSettings,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: Callable[[], float] | None = None,
) -> None:
    """Raise WebhookRejected(401) unless the signature matches and the timestamp is fresh."""
    given = header(headers, settings.signature_header)
    stamp = header(headers, settings.timestamp_header)
    if not given or not stamp:
        raise WebhookRejected("missing signature or timestamp header", status=401)
    stamp = stamp.strip()
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:  # "²" is a digit too
        raise WebhookRejected("malformed signature timestamp", status=401)
    expected = sign(secret, stamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8", "replace")):
        raise WebhookRejected("signature does not match", status=401)
    seconds = now() if now else clock.utcnow().timestamp()  # the simulator stamps with the same clock
    if settings.max_age_seconds and abs(seconds - int(stamp)) > settings.max_age_seconds:
        raise WebhookRejected("signature timestamp is too old (replayed or clock skew)", status=401)


def load(body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery; WebhookRejected(400) for anything else."""
    if len(body) > MAX_BODY:
        raise WebhookRejected("body too large", status=400)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected("body is not JSON", status=400) from None
    if not isinstance(data, dict):
        raise WebhookRejected("body is not a JSON object", status=400)
    return data


def _text(data: Mapping[str, Any], name: str) -> str:
    raw = data.get(name)
    if isinstance(raw, dict):
        raw = raw.get("value")
    if raw is None or isinstance(raw, list | dict):
        return ""
    return str(raw).strip()


def delivery_id(body: bytes) -> str | None:
    """sys_id plus sys_mod_count: the same record version delivered twice is one delivery. For
    the approver rows' rule, the approver row's: each answer is its own delivery, though the
    record itself may not have changed."""
    try:
        data = load(body)
    except WebhookRejected:
        return None
    approver, version = _text(data, "approver_sys_id"), _text(data, "approver_mod_count")
    if approver and version:
        return f"{approver}:{version}"
    sys_id, mod = _text(data, "sys_id"), _text(data, "sys_mod_count")
    if not sys_id or not mod:
        return None
    return f"{sys_id}:{mod}"


def parse(
    system: str, body: bytes, prefixes: list[str], correlation_fields: list[str]
) -> list[DecisionEvent]:
    """Hints for records this connector created (a known correlation prefix); [] otherwise."""
    data = load(body)
    number, sys_id = _text(data, "number"), _text(data, "sys_id")
    if not sys_id or len(sys_id) > 64 or not number or len(number) > 64:
        raise WebhookRejected("delivery names no record (number and sys_id are required)", status=400)
    correlation = ""
    for name in [*correlation_fields, "correlation_id"]:
        correlation = _text(data, name)
        if correlation:
            break
    request_id = None
    for prefix in sorted(set(prefixes), key=len, reverse=True):
        if correlation.startswith(prefix) and len(correlation) > len(prefix):
            request_id = correlation[len(prefix) :]
            break
    if request_id is None:
        return []
    return [
        DecisionEvent(
            system=system,
            ticket_key=number,
            request_id=request_id,
            decision=None,
            source="webhook",
            delivery_id=delivery_id(body),
        )
    ]
