"""API keys: created, listed and revoked from the CLI; verified on every call.

A key reads ``gsk_<key_id>_<secret>``: ``key_id`` (12 hex characters) is public and names the key in the
audit and the logs; ``secret`` is 32 random bytes (base64url). Only ``sha256(salt || secret)`` with a
16-byte random salt per key is stored (``patient_pipeline.api_key``): a 256-bit random secret cannot be
guessed from a dictionary, so a slow password hash would only slow every call down. The key is printed
once, at creation; it cannot be shown again (revoke it and create another).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from include.core.errors import GenascopeError

KEY_RE = re.compile(r"gsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


class UnknownApiKey(GenascopeError, LookupError):
    """No such API key (the CLI's revoke)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    account_id: str
    name: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = None  # from the audit (list only)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # the full key, printed once


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def create(conn: sa.Connection, account_id: str, name: str, *, admin: bool = False) -> NewKey:
    """A new key for ``account_id`` (which must exist in ``accounts``); commits."""
    exists = conn.execute(sa.text("SELECT 1 FROM accounts WHERE id = :a"), {"a": account_id}).first()
    if exists is None:
        conn.rollback()
        raise UnknownApiKey(f"account {account_id!r} does not exist; create it in the application first")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = conn.execute(sa.text(
        "INSERT INTO patient_pipeline.api_key (key_id, account_id, name, is_admin, salt, secret_sha256) "
        "VALUES (:k, :a, :n, :adm, :s, :h) RETURNING key_id, account_id, name, is_admin, created_at, revoked_at"), {"k": key_id, "a": account_id, "n": name, "adm": admin, "s": salt,
                          "h": _digest(salt, secret)}).mappings().one()
    conn.commit()
    return NewKey(ApiKey(**row), f"gsk_{key_id}_{secret}")


def list_keys(conn: sa.Connection) -> list[ApiKey]:
    rows = conn.execute(sa.text(
        "SELECT k.key_id, k.account_id, k.name, k.is_admin, k.created_at, k.revoked_at, "
        "(SELECT max(a.called_at) FROM patient_pipeline.api_audit a WHERE a.key_id = k.key_id) AS last_used_at "
        "FROM patient_pipeline.api_key k ORDER BY k.created_at, k.key_id")).mappings().all()
    conn.commit()
    return [ApiKey(**r) for r in rows]


def revoke(conn: sa.Connection, key_id: str) -> ApiKey:
    row = conn.execute(sa.text(
        "UPDATE patient_pipeline.api_key SET revoked_at = coalesce(revoked_at, now() AT TIME ZONE 'utc') "
        "WHERE key_id = :k RETURNING key_id, account_id, name, is_admin, created_at, revoked_at"),
        {"k": key_id}).mappings().first()
    conn.commit()
    if row is None:
        raise UnknownApiKey(f"no API key with id {key_id!r} (see `api-key list`)")
    return ApiKey(**row)


def verify(conn: sa.Connection, token: str) -> ApiKey | None:
    """The live key a bearer token names, or None (malformed, unknown, wrong secret or revoked)."""
    m = KEY_RE.fullmatch(token or "")
    if m is None:
        return None
    key_id, secret = m.groups()
    row = conn.execute(sa.text(
        "SELECT key_id, account_id, name, is_admin, created_at, revoked_at, salt, secret_sha256 "
        "FROM patient_pipeline.api_key WHERE key_id = :k"), {"k": key_id}).mappings().first()
    if row is None:
        _digest(b"\0" * 16, secret)  # the same work either way
        return None
    ok = hmac.compare_digest(bytes(row["secret_sha256"]), _digest(bytes(row["salt"]), secret))
    if not ok or row["revoked_at"] is not None:
        return None
    data = {k: v for k, v in row.items() if k not in ("salt", "secret_sha256")}
    return ApiKey(**data)


class VerifiedKeyCache:
    """Verified keys for ``ttl_s`` seconds, so a call does not ask the database for its key every time.

    Keyed by the SHA-256 of the whole bearer token (never the token itself); only successful verifications
    are kept, so a wrong secret is always checked against the database. A key revoked with the CLI is refused
    by every API process within ``ttl_s`` seconds (the bound the settings document); ``ttl_s = 0`` asks
    the database on every call. Bounded in size (oldest entries dropped).
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[bytes, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> ApiKey | None:
        if self.ttl_s <= 0:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[digest]
                return None
            return hit[1]

    def put(self, token: str, key: ApiKey) -> None:
        if self.ttl_s <= 0:
            return
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for old in list(self._entries)[: self.max_entries // 10 or 1]:
                    del self._entries[old]
            self._entries[digest] = (time.monotonic() + self.ttl_s, key)
