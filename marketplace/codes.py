"""ISO 3166 country and ISO 4217 currency codes, validated with pycountry."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import pycountry
from django.core.exceptions import ValidationError

WORLDWIDE = "*"

# ISO 4217 currencies whose minor unit is 0: their amounts are whole (no cents).
WHOLE_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
     "VUV", "XAF", "XOF", "XPF"}
)  # fmt: skip
CENT = Decimal("0.01")


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` stored (1 JPY, 0.01 EUR): amounts are cut in it."""
    return Decimal(1) if currency in WHOLE_CURRENCIES else CENT


def amount_text(amount: Decimal, currency: str, *, grouped: bool = True) -> str:
    """``amount`` in ``currency``'s minor unit: 1,000 (JPY), 1,200.00 (EUR); without the
    thousands' commas when not ``grouped`` (as the buyer's forms and facts show it)."""
    return format(Decimal(amount).quantize(minor_unit(currency)), ",f" if grouped else "f")


def amount_problem(amount: Decimal | None, currency: str) -> str:
    """Why ``amount`` cannot be an amount of ``currency`` (a fraction of a yen), or ""."""
    if amount is None or amount % minor_unit(currency) == 0:
        return ""
    return f"{currency} has no minor unit: give a whole amount."


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


@cache
def country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def country_choices() -> list[tuple[str, str]]:
    return sorted(
        ((country.alpha_2, country.name) for country in pycountry.countries),
        key=lambda choice: choice[1],
    )


# ISO 4217 codes that are no money one pays a vendor in: testing, "no currency",
# precious metals, units of account and funds codes.
NOT_FOR_TRADE = frozenset(
    {"XTS", "XXX", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA",
     "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}
)  # fmt: skip


@cache
def currency_choices() -> list[tuple[str, str]]:
    """The currencies a buyer chooses from (every ISO 4217 code is still a valid one)."""
    return sorted(
        (currency.alpha_3, f"{currency.alpha_3} — {currency.name}")
        for currency in pycountry.currencies
        if currency.alpha_3 not in NOT_FOR_TRADE
    )


def validate_currency(value: str) -> None:
    if value not in currency_codes():
        # The value goes in params: a message is %-formatted (django-filter does), and a
        # "%" typed in the value broke it (a 500).
        raise ValidationError(
            "“%(value)s” is not an ISO 4217 currency code.",
            code="currency",
            params={"value": value},
        )


def validate_country(value: str) -> None:
    if value not in country_codes():
        raise ValidationError(
            "“%(value)s” is not an ISO 3166 country code.", code="country", params={"value": value}
        )


def validate_region(value: str) -> None:
    """A service region: a country code, optionally ``CC-SUB`` (ISO 3166-2), or ``*``."""
    if value == WORLDWIDE:
        return
    country = value.split("-", 1)[0]
    if country not in country_codes():
        raise ValidationError(
            "“%(value)s” is not an ISO 3166 country code or “*” for worldwide.",
            code="region",
            params={"value": value},
        )
    if "-" in value and pycountry.subdivisions.get(code=value) is None:
        raise ValidationError(
            "“%(value)s” is not an ISO 3166-2 subdivision.", code="region", params={"value": value}
        )
