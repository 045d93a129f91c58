"""The back office: admin accounts (password + TOTP), roles and the permission matrix, four-eyes
approvals, user/market/fee/fund operations, the audit log viewer — as a JSON API and a dashboard on
the admin listener (`create_admin_app`).
"""

from wcx.admin.app import create_admin_app

__all__ = ["create_admin_app"]
