"""Column types: exact integer amounts of any size on every database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class Amount(TypeDecorator[int]):
    """Minor units as an exact integer: NUMERIC(78, 0) on PostgreSQL (fits 2**256), text elsewhere.

    SQLite has no exact decimal type (SQLAlchemy's Numeric would go through float), and wei
    balances exceed 64-bit integers, so SQLite stores the decimal digits.
    """

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """NUMERIC on PostgreSQL, text elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        """int -> Decimal (PostgreSQL) or str."""
        if value is None:
            return None
        return Decimal(value) if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        """Back to int, exactly."""
        return None if value is None else int(value)
