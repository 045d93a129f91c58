"""API keys (api_keys table): create, list, revoke, and the signed-request check.

HMAC secrets are sealed (AES-GCM, key from JWT_SECRET via HKDF, bound to the key id); Ed25519 keys
keep only the client's public key. See `wcx.api.auth.signing` for what is signed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.api.auth import schemas, signing
from wcx.api.auth.accounts import aware, now_utc
from wcx.api.auth.state import AuthState
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.batched import BatchedLookup
from wcx.store.schema import api_keys, users

MAX_KEYS = 20
DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
FUTURE_SKEW_MS = 1_000  # a client clock slightly ahead of ours is tolerated
_DIGITS = re.compile(r"[0-9]{1,16}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A live API key as the signed-request check needs it (secret already decrypted)."""

    id: int
    user_id: int
    hmac_secret: str | None
    public_key: Ed25519PublicKey | None
    permissions: frozenset[Permission]
    networks: tuple[Network, ...]
    frozen: bool

    def allows(self, ip: str | None) -> bool:
        """Whether a request from `ip` may use the key (any IP when there is no allowlist)."""
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def signed_by(self, signed: bytes, signature: str) -> bool:
        """Whether `signature` over `signed` was made with this key."""
        if self.public_key is not None:
            return signing.ed25519_valid(self.public_key, signed, signature)
        return self.hmac_secret is not None and signing.hmac_valid(self.hmac_secret, signed, signature)


def _networks(entries: list[str]) -> list[Network]:
    try:
        return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]
    except ValueError as exc:
        raise ApiError(422, "INVALID_IP_ALLOWLIST", f"not an IP address or network: {exc}") from exc


def _info(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "kind": row.kind,
        "label": row.label,
        "permissions": sorted(Permission(p) for p in row.permissions),
        "ip_allowlist": list(row.ip_allowlist),
        "created_at": aware(row.created_at),
    }


async def create_key(
    db: AsyncEngine, state: AuthState, user_id: int, body: schemas.ApiKeyCreate
) -> schemas.ApiKeyCreated:
    """A new key for `user_id`; `withdraw` requires an IP allowlist; at most MAX_KEYS live keys."""
    permissions = sorted(set(body.permissions))
    networks = [str(n) for n in _networks(body.ip_allowlist)]
    if Permission.WITHDRAW in permissions and not networks:
        raise ApiError(422, "ALLOWLIST_REQUIRED", "a key with the withdraw permission needs an ip_allowlist")
    key = secrets.token_hex(16)
    secret = sealed = public_key = None
    if body.kind == "hmac":
        if body.public_key is not None:
            raise ApiError(422, "INVALID_PUBLIC_KEY", "public_key is only for ed25519 keys")
        secret = secrets.token_hex(32)
        sealed = state.sealer.seal(secret.encode(), f"api-key:{key}")
    elif body.public_key is None:
        raise ApiError(422, "INVALID_PUBLIC_KEY", "an ed25519 key needs public_key")
    else:
        public_key = signing.raw_public_key(signing.parse_public_key(body.public_key))
    async with db.begin() as conn:
        live = await conn.scalar(
            select(func.count())
            .select_from(api_keys)
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        )
        if (live or 0) >= MAX_KEYS:
            raise ApiError(409, "TOO_MANY_API_KEYS", f"at most {MAX_KEYS} live API keys; revoke one first")
        result = await conn.execute(
            insert(api_keys)
            .values(
                user_id=user_id,
                key=key,
                kind=body.kind,
                secret=sealed,
                public_key=public_key,
                permissions=[p.value for p in permissions],
                ip_allowlist=networks,
                label=body.label,
                created_at=now_utc(state),
            )
            .returning(*api_keys.c)
        )
        row = result.one()
    return schemas.ApiKeyCreated(**_info(row), secret=secret)


async def list_keys(db: AsyncEngine, user_id: int) -> list[schemas.ApiKeyInfo]:
    """The user's live keys, oldest first, without secrets."""
    async with db.connect() as conn:
        rows = await conn.execute(
            select(api_keys)
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.id)
        )
        return [schemas.ApiKeyInfo(**_info(row)) for row in rows]


async def revoke_key(db: AsyncEngine, state: AuthState, user_id: int, key_id: int) -> None:
    """Revoke one of the user's live keys; 404 API_KEY_NOT_FOUND otherwise (another user's too)."""
    async with db.begin() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now_utc(state))
        )
    if result.rowcount == 0:
        raise ApiError(404, "API_KEY_NOT_FOUND", "no such API key")
    state.api_keys.clear()


async def key_refusal(db: AsyncEngine, key_id: int) -> str:
    """ "" while API key `key_id` is live and its owner not frozen, else the code refusing it."""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(users.c.frozen)
                .join(users, users.c.id == api_keys.c.user_id)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            )
        ).first()
    return "API_KEY_REVOKED" if row is None else "ACCOUNT_FROZEN" if row.frozen else ""


async def _load(db: AsyncEngine, state: AuthState, key: str) -> KeyRecord | None:
    """The live key `key` (briefly cached; misses share queries), or None."""
    batches = state.key_lookups
    if batches is None:
        batches = state.key_lookups = BatchedLookup(lambda keys: _fetch_keys(db, state, keys))
    return await state.api_keys.load(key, lambda: batches.get(key))


async def _fetch_keys(db: AsyncEngine, state: AuthState, keys: list[str]) -> dict[str, KeyRecord]:
    """The live keys among `keys`, in one query."""
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(api_keys, users.c.frozen)
                .join(users, users.c.id == api_keys.c.user_id)
                .where(api_keys.c.key.in_(keys), api_keys.c.revoked_at.is_(None))
            )
        ).all()
    return {
        row.key: KeyRecord(
            id=row.id,
            user_id=row.user_id,
            hmac_secret=state.sealer.open(row.secret, f"api-key:{row.key}").decode()
            if row.kind == "hmac"
            else None,
            public_key=signing.parse_public_key(row.public_key) if row.kind == "ed25519" else None,
            permissions=frozenset(Permission(p) for p in row.permissions),
            networks=tuple(_networks(row.ip_allowlist)),
            frozen=row.frozen,
        )
        for row in rows
    }


async def authenticate_signed(
    db: AsyncEngine,
    state: AuthState,
    *,
    key: str,
    timestamp: str,
    signature: str,
    recv_window: str | None,
    signed: bytes,
    ip: str | None,
) -> Principal:
    """The principal of a signed API-key request, or the ApiError refusing it.

    Checks, in order: the timestamp window, the key (live), the account (not frozen), the IP allowlist,
    the signature, and finally that the same signed message was not seen before (replay).
    """
    window = DEFAULT_RECV_WINDOW_MS
    if recv_window is not None:
        if not _DIGITS.fullmatch(recv_window) or not 0 < int(recv_window) <= MAX_RECV_WINDOW_MS:
            raise ApiError(400, "INVALID_RECV_WINDOW", f"recv window must be 1..{MAX_RECV_WINDOW_MS} ms")
        window = int(recv_window)
    now_ms = int(state.clock() * 1000)
    if not _DIGITS.fullmatch(timestamp) or not now_ms - window <= int(timestamp) < now_ms + FUTURE_SKEW_MS:
        raise ApiError(
            401, "TIMESTAMP_OUTSIDE_WINDOW", f"timestamp must be within {window} ms of server time"
        )
    record = await _load(db, state, key) if len(key) <= 64 else None
    if record is None:
        raise ApiError(401, "INVALID_API_KEY", "unknown or revoked API key")
    if record.frozen:
        raise ApiError(403, "ACCOUNT_FROZEN", "this account is frozen")
    if not record.allows(ip):
        raise ApiError(403, "IP_NOT_ALLOWED", "this API key may not be used from this address")
    if len(signature) > 256 or not record.signed_by(signed, signature):
        raise ApiError(401, "INVALID_SIGNATURE", "the signature does not match the request")
    # Keyed by the signed message (not the signature text, whose encoding could vary), and kept until the
    # timestamp falls out of even the largest window.
    replay_ttl = int(timestamp) + MAX_RECV_WINDOW_MS + FUTURE_SKEW_MS - now_ms
    if not await state.store.add(f"replay:{record.id}:{hashlib.sha256(signed).hexdigest()}", replay_ttl):
        raise ApiError(401, "REPLAYED_REQUEST", "this signed request was already received")
    return Principal(record.user_id, record.permissions, api_key_id=record.id)
