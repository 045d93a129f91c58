"""Decimal strings to minor units and back: exact, never rounded."""

from __future__ import annotations

from typing import Any

import pytest

from wcx.primitives import AmountError, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("1", 8, 100_000_000),
        ("1.5", 8, 150_000_000),
        ("0.00000001", 8, 1),
        ("0.00120000", 8, 120_000),  # trailing zeros beyond the significant digits are fine
        ("65000.01", 6, 65_000_010_000),
        ("42", 0, 42),
        ("42.000", 0, 42),
        ("123456789.123456789012345678", 18, 123_456_789_123_456_789_012_345_678),
        ("1234567890123.123456789012345678", 18, 1_234_567_890_123_123_456_789_012_345_678),
    ],
)
def test_parse_amount_is_exact(text: str, scale: int, units: int) -> None:
    assert parse_amount(text, scale) == units


@pytest.mark.parametrize(
    ("text", "scale"),
    [
        ("0.000000001", 8),
        ("1.000000005", 8),
        ("0.5", 0),
        ("0.0000001", 6),
        ("1.0000000000000000000000000001", 8),  # more digits than the default decimal context keeps
    ],
)
def test_parse_amount_rejects_excess_precision_instead_of_rounding(text: str, scale: int) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, scale)
    assert caught.value.code == "too_precise"


@pytest.mark.parametrize("text", ["-1", "-0.00000001", "-12.5"])
def test_parse_amount_rejects_negatives(text: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, 8)
    assert caught.value.code == "negative_amount"


@pytest.mark.parametrize("text", ["0", "0.000", "-0", "-0.0"])
def test_parse_amount_rejects_zero_unless_allowed(text: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, 8)
    assert caught.value.code == "zero_amount"
    assert parse_amount(text, 8, allow_zero=True) == 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1.2.3",
        "1,5",
        "--1",
        "0x10",
        "1/2",
        "NaN",
        "nan",
        "sNaN",
        "inf",
        "Infinity",
        "-Infinity",
        "1" * 65,
        "1e-8",
        "1E3",
        " 1",
        "1 ",
        "1_000",
        "+1",
        ".5",
        "5.",
        "\u0661\u0662",  # Arabic-Indic digits: int() would take them, the wire format does not
    ],
)
def test_parse_amount_rejects_garbage_and_non_finite(text: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, 8)
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [None, 1, 1.5, b"1"])
def test_parse_amount_rejects_non_strings(value: Any) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(value, 8)
    assert caught.value.code == "invalid_amount"


def test_parse_amount_accepts_the_longest_allowed_text() -> None:
    text = "0" * 55 + "1." + "0" * 7
    assert len(text) == 64
    assert parse_amount(text, 8) == 100_000_000


def test_parse_amount_turns_an_absurd_exponent_into_an_amount_error() -> None:
    # Short enough to pass the length check; would build a million-digit integer if accepted.
    with pytest.raises(AmountError) as caught:
        parse_amount("1e1000000", 8)
    assert caught.value.code == "invalid_amount"


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


@pytest.mark.parametrize(
    ("units", "scale", "text"),
    [
        (150_000_000, 8, "1.50000000"),
        (1, 8, "0.00000001"),
        (0, 6, "0.000000"),
        (-5, 2, "-0.05"),
        (-150, 2, "-1.50"),
        (42, 0, "42"),
        (-42, 0, "-42"),
        (10**18, 18, "1.000000000000000000"),
        (65_000_010_000, 6, "65000.010000"),
    ],
)
def test_format_amount_renders_exactly_scale_decimals(units: int, scale: int, text: str) -> None:
    assert format_amount(units, scale) == text


@pytest.mark.parametrize("units", [1, 7, 10**8, 123_456_789, 10**27 + 1])
@pytest.mark.parametrize("scale", [0, 2, 8, 18])
def test_format_then_parse_round_trips(units: int, scale: int) -> None:
    assert parse_amount(format_amount(units, scale), scale) == units
