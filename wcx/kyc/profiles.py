"""Profiles and tiers: the tier a user holds, its limits, and the checks trading and the wallet call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.kyc.core import KycCore
from wcx.kyc.limits import LimitExceeded, PriceSource, check_against, deposit_usage, withdrawal_usage
from wcx.kyc.tables import kyc_profiles
from wcx.kyc.views import LimitsView
from wcx.primitives import format_amount


class Profiles(KycCore):
    """Tiers and the limit checks."""

    def limits_view(self, tier: int) -> LimitsView:
        """A tier's limits as decimal strings of the reference asset."""
        limits = self.tier_limits(tier)
        scale = self.config.reference_scale

        def text(units: int | None) -> str | None:
            return None if units is None else format_amount(units, scale)

        return LimitsView(
            tier=tier,
            name=limits.name,
            trading=limits.trading,
            reference_asset=self.config.reference_asset,
            withdrawal_daily=text(limits.withdrawal_daily),
            withdrawal_monthly=text(limits.withdrawal_monthly),
            deposit_daily=text(limits.deposit_daily),
            deposit_monthly=text(limits.deposit_monthly),
            required_personal_data=sorted(limits.personal_data),
            required_documents=sorted(limits.documents),
        )

    async def tier_of(self, conn: AsyncConnection, user_id: int) -> int:
        """The user's verified tier (the configured default for a user never approved)."""
        profile = await self._profile(conn, user_id)
        return self.default_tier if profile is None else int(profile.tier)

    async def cached_tier(self, db: AsyncEngine, user_id: int) -> int:
        """`tier_of` through a short per-process cache (changes made in this process apply at once);
        concurrent orders of a user share one read when the entry expires."""

        async def lookup() -> int:
            async with db.connect() as conn:
                return await self.tier_of(conn, user_id)

        tier = await self._tiers.load(user_id, lookup)
        assert tier is not None  # tier_of always answers one
        return tier

    async def review_hold(self, conn: AsyncConnection, user_id: int) -> bool:
        """Whether a screening hit on this approved user waits for review (withdrawals refused)."""
        profile = await self._profile(conn, user_id)
        return bool(profile is not None and profile.review_hold)

    async def set_tier(
        self,
        conn: AsyncConnection,
        user_id: int,
        tier: int,
        *,
        review_hold: bool | None = None,
        submission_id: int | None = None,
    ) -> None:
        """Record the user's tier (upsert); used by decisions and by operators' overrides."""
        self.tier_limits(tier)
        self._tiers.discard(user_id)
        now = self.clock()
        profile = await self._profile(conn, user_id)
        values: dict[str, Any] = {"tier": tier, "updated_at": now}
        if review_hold is not None:
            values["review_hold"] = review_hold
        if submission_id is not None:
            values["approved_submission_id"] = submission_id
        if profile is None:
            await conn.execute(
                insert(kyc_profiles).values(
                    user_id=user_id,
                    review_hold=bool(review_hold),
                    **{k: v for k, v in values.items() if k != "review_hold"},
                )
            )
        else:
            await conn.execute(update(kyc_profiles).where(kyc_profiles.c.user_id == user_id).values(**values))

    async def check_trading_allowed(self, db: AsyncEngine, user_id: int) -> LimitExceeded | None:
        """None if the user's tier may trade, else why not (cached tier: called on every order)."""
        tier = await self.cached_tier(db, user_id)
        if self.tier_limits(tier).trading:
            return None
        return LimitExceeded("KYC_TRADING_NOT_ALLOWED", f"tier {tier} may not trade; complete verification")

    async def check_withdrawal_allowed(
        self,
        conn: AsyncConnection,
        user_id: int,
        asset: str,
        amount: int,
        prices: PriceSource,
        *,
        now: datetime | None = None,
    ) -> LimitExceeded | None:
        """None if withdrawing `amount` (minor units of `asset`, fee included) fits the tier's limits."""
        profile = await self._profile(conn, user_id)
        if profile is not None and profile.review_hold:
            return LimitExceeded(
                "KYC_UNDER_REVIEW", "withdrawals are paused while your verification is reviewed"
            )
        tier = self.default_tier if profile is None else int(profile.tier)
        limits = self.tier_limits(tier)
        if limits.withdrawal_daily == 0 or limits.withdrawal_monthly == 0:
            return LimitExceeded(
                "KYC_WITHDRAWALS_NOT_ALLOWED", f"tier {tier} may not withdraw; complete verification", limit=0
            )
        return await self._within(
            conn,
            user_id,
            "WITHDRAWAL",
            (limits.withdrawal_daily, limits.withdrawal_monthly),
            asset,
            amount,
            prices,
            now,
        )

    async def check_deposit_allowed(
        self,
        conn: AsyncConnection,
        user_id: int,
        asset: str,
        amount: int,
        prices: PriceSource,
        *,
        now: datetime | None = None,
    ) -> LimitExceeded | None:
        """None if crediting `amount` fits the tier's deposit limits (the wallet holds what does not)."""
        limits = self.tier_limits(await self.tier_of(conn, user_id))
        return await self._within(
            conn,
            user_id,
            "DEPOSIT",
            (limits.deposit_daily, limits.deposit_monthly),
            asset,
            amount,
            prices,
            now,
        )

    async def _within(
        self,
        conn: AsyncConnection,
        user_id: int,
        what: str,
        limits: tuple[int | None, int | None],
        asset: str,
        amount: int,
        prices: PriceSource,
        now: datetime | None,
    ) -> LimitExceeded | None:
        """Value `amount` and compare it plus the rolling usage with the (daily, monthly) limits."""
        if limits == (None, None):
            return None
        requested = prices.reference_value(asset, amount)
        if requested is None:
            return LimitExceeded(
                "KYC_PRICE_UNAVAILABLE", f"{asset} has no price in {self.config.reference_asset}"
            )
        usage_of = withdrawal_usage if what == "WITHDRAWAL" else deposit_usage
        usage = await usage_of(conn, user_id, prices, now or self.clock())
        return check_against(what, usage, requested, *limits)
