"""``{{ offer.price|amount:offer.currency }}``: an amount in its currency's minor unit."""

from __future__ import annotations

from decimal import Decimal

from django import template

from marketplace.codes import amount_text

register = template.Library()


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    """1000 JPY as ``1000``, 240 EUR as ``240.00``; no amount as an empty text."""
    return "" if value is None else amount_text(value, currency, grouped=False)
