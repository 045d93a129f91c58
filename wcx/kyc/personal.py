"""Personal data a user submits: validated on input, sealed at rest, checked against tier requirements."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

_COUNTRY = re.compile(r"[A-Z]{2}")
MIN_AGE = 18
MAX_AGE = 130

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Country = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=2)]


class PersonalData(BaseModel):
    """Identity fields; any may be missing in a draft, the requested tier says which are required."""

    model_config = ConfigDict(extra="forbid")

    full_name: Text | None = None
    date_of_birth: date | None = None
    country: Country | None = None
    """Country of residence, ISO 3166-1 alpha-2."""
    nationality: Country | None = None
    address: LongText | None = None
    occupation: Text | None = None
    id_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None

    @field_validator("country", "nationality")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is not None and not _COUNTRY.fullmatch(value):
            raise ValueError("must be an ISO 3166-1 alpha-2 code such as 'DE'")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        if value is None:
            return value
        today = date.today()
        age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
        if age < MIN_AGE:
            raise ValueError(f"the account holder must be at least {MIN_AGE}")
        if age > MAX_AGE:
            raise ValueError("date of birth is not plausible")
        return value

    def missing(self, required: frozenset[str]) -> list[str]:
        """The required fields that are empty, sorted."""
        return sorted(name for name in required if getattr(self, name) is None)

    def merged(self, update: PersonalData) -> PersonalData:
        """These fields overwritten by the fields `update` sets."""
        return self.model_copy(update=update.model_dump(exclude_unset=True))
