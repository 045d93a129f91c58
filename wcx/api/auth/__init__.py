"""Accounts and authentication: sessions (access JWT + rotating refresh tokens), TOTP 2FA, API keys.

`router` carries the endpoints; `current_principal` / `require(permission)` are the dependencies private
endpoints use; `authenticate_ws` checks a WebSocket login message. Auth owns the users, credentials,
sessions, email_outbox and api_keys tables and reaches them through `runtime.db`.
"""

from wcx.api.auth.principals import (
    authenticate_ws,
    check_permission,
    current_principal,
    principal_refusal,
    require,
    session_principal,
)
from wcx.api.auth.routes import router
from wcx.api.auth.state import AuthState, attach, auth_state, shutdown

__all__ = [
    "AuthState",
    "attach",
    "auth_state",
    "authenticate_ws",
    "check_permission",
    "current_principal",
    "principal_refusal",
    "require",
    "router",
    "session_principal",
    "shutdown",
]
