"""Hot-to-cold transfers from the back office.

The wallet proposes moving a hot wallet's excess to cold storage (`wallet_rebalances`). Sending one is
a four-eyes request (`hotcold.send`, the `transfers:send` permission) that names only the record: when
a second admin approves it, the record becomes a transfer to the asset's **configured** cold address
and the wallet pipeline signs it with the HSM hot key and sends it (`wcx.wallet.withdrawals.transfers`).
No request, body or payload carries an address. Each step is an audit record: the request, the
approval and this action here; signing, broadcast and confirmation by the wallet (`transfer.*`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from wcx.admin.accounts import Actor, record_action
from wcx.admin.approvals import Kind, register, request_change
from wcx.admin.permissions import Permission
from wcx.admin.state import admin_state
from wcx.api.withdrawals import api_error, policy_of
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.wallet.withdrawals import WithdrawalError
from wcx.wallet.withdrawals.hotcold import Rebalance, recent_rebalances
from wcx.wallet.withdrawals.transfers import TRANSFER_STATES, Transfer, approve_transfer, check_proposal, load

KIND = "hotcold.send"


class SendIn(BaseModel):
    """Nothing to choose: the amount is the proposal's and the destination the configured cold address."""

    model_config = ConfigDict(extra="forbid")


def view(runtime: Runtime, record: Rebalance, transfer: Transfer | None) -> dict[str, Any]:
    """A rebalance record, and the transfer it became, as the back office shows it (decimal amounts)."""
    scale = runtime.engine.state.assets.get(record.asset, 0)
    asset = policy_of(runtime).assets.get(record.asset)
    return {
        "id": record.id,
        "asset": record.asset,
        "direction": record.direction,
        "amount": format_amount(record.amount, scale),
        "hot_balance": format_amount(record.hot_balance, scale),
        "state": record.state,
        "created_at": record.created_at.isoformat(),
        "cold_address": transfer.address if transfer else (asset.cold_address if asset else ""),
        "transfer": None
        if transfer is None
        else {
            "approval_id": transfer.approval_id,
            "chain": transfer.chain,
            "from_address": transfer.from_address,
            "tx_hash": transfer.tx_hash,
            "confirmations": transfer.confirmations,
            "attempts": transfer.attempts,
            "last_error": transfer.last_error,
        },
    }


async def rebalances(runtime: Runtime) -> list[dict[str, Any]]:
    """Proposals, cold-to-hot requests and transfers, newest first."""
    found = []
    async with runtime.db.connect() as conn:
        for record in await recent_rebalances(runtime.db):
            transfer = await load(conn, record.id) if record.state in TRANSFER_STATES else None
            found.append(view(runtime, record, transfer))
    return found


async def request_send(runtime: Runtime, actor: Actor, rebalance_id: int) -> dict[str, Any]:
    """Ask to send an open hot-to-cold proposal to the cold address (four-eyes)."""
    try:
        record, asset = await check_proposal(runtime.db, policy_of(runtime), rebalance_id)
    except WithdrawalError as exc:
        raise api_error(exc) from None
    amount = format_amount(record.amount, asset.scale)
    summary = f"send {amount} {record.asset} from the hot wallet to cold {asset.cold_address} (#{record.id})"
    return await request_change(runtime, actor, KIND, {"rebalance_id": rebalance_id}, summary)


async def _send(runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int) -> dict[str, Any]:
    rebalance_id = int(payload["rebalance_id"])
    try:
        transfer = await approve_transfer(
            runtime.db, policy_of(runtime), rebalance_id, approval_id, admin_state(runtime).now()
        )
    except WithdrawalError as exc:
        raise api_error(exc) from None
    amount = format_amount(transfer.amount, runtime.engine.state.assets.get(transfer.asset, 0))
    after = {"state": transfer.state.value, "asset": transfer.asset, "amount": amount, "to": transfer.address}
    target = f"transfer:{rebalance_id}"
    await record_action(runtime, actor, KIND, target, before={"state": "open"}, after=after)
    return {"rebalance_id": rebalance_id, "to": transfer.address, "amount": amount, "approval": approval_id}


register(Kind(KIND, Permission.TRANSFERS_SEND, _send))
