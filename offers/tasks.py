"""Scheduled work on intents and offers. Thin: call a service."""

from __future__ import annotations

from celery import shared_task

from offers.services import intents_close_due, offers_lapse_due


@shared_task(name="offers.close_due_intents")
def close_due_intents() -> dict[str, int]:
    return intents_close_due()


@shared_task(name="offers.lapse_due_offers")
def lapse_due_offers() -> int:
    return offers_lapse_due()
