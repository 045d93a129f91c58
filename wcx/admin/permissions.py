"""Roles and the permission matrix: the single declaration the endpoints and the tests both read.

Every admin endpoint names exactly one `Permission` (or is listed public in `wcx.admin.guard`);
`ROLE_PERMISSIONS` says which roles hold it. Four-eyes requests need the permission of their kind
to be raised and the same permission to be approved, by a different admin.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an admin account is for."""

    SUPPORT = "support"
    COMPLIANCE = "compliance"
    TREASURY = "treasury"
    OPERATOR = "operator"
    SUPERADMIN = "superadmin"


class Permission(StrEnum):
    """One thing an admin may see or do."""

    USERS_READ = "users:read"
    USERS_FREEZE = "users:freeze"
    KYC_READ = "kyc:read"
    KYC_DECIDE = "kyc:decide"
    WITHDRAWALS_READ = "withdrawals:read"
    WITHDRAWALS_DECIDE = "withdrawals:decide"
    FUNDS_READ = "funds:read"
    FUNDS_CREDIT = "funds:credit"
    TRANSFERS_SEND = "transfers:send"
    """Send a proposed hot-to-cold transfer (four-eyes)."""
    MARKETS_READ = "markets:read"
    MARKETS_CONTROL = "markets:control"
    MARKETS_CREATE = "markets:create"
    FEES_READ = "fees:read"
    FEES_CHANGE = "fees:change"
    AUDIT_READ = "audit:read"
    APPROVALS_READ = "approvals:read"
    ADMINS_READ = "admins:read"
    ADMINS_MANAGE = "admins:manage"
    SELF = "self"
    """Any signed-in admin: their own account, sign-out, the dashboard's home."""


_EVERYONE = frozenset(
    {Permission.SELF, Permission.MARKETS_READ, Permission.FEES_READ, Permission.APPROVALS_READ}
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Support answers customers: reads users, their KYC state and withdrawals; changes nothing.
    Role.SUPPORT: _EVERYONE | {Permission.USERS_READ, Permission.KYC_READ, Permission.WITHDRAWALS_READ},
    # Compliance decides KYC cases and freezes accounts, and reads the audit trail.
    Role.COMPLIANCE: _EVERYONE
    | {
        Permission.USERS_READ,
        Permission.USERS_FREEZE,
        Permission.KYC_READ,
        Permission.KYC_DECIDE,
        Permission.WITHDRAWALS_READ,
        Permission.AUDIT_READ,
    },
    # Treasury moves money: withdrawal approvals, manual credits, balance adjustments, hot to cold.
    Role.TREASURY: _EVERYONE
    | {
        Permission.USERS_READ,
        Permission.WITHDRAWALS_READ,
        Permission.WITHDRAWALS_DECIDE,
        Permission.FUNDS_READ,
        Permission.FUNDS_CREDIT,
        Permission.TRANSFERS_SEND,
    },
    # Operators run markets and fee schedules.
    Role.OPERATOR: _EVERYONE
    | {Permission.MARKETS_CONTROL, Permission.MARKETS_CREATE, Permission.FEES_CHANGE},
    # Superadmins manage admin accounts and roles, and may do everything else.
    Role.SUPERADMIN: frozenset(Permission),
}


def allowed(role: Role, permission: Permission) -> bool:
    """Whether `role` holds `permission` (the one check every endpoint makes)."""
    return permission in ROLE_PERMISSIONS[role]
