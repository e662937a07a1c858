"""Celery tasks for events, webhooks and account e-mails. Thin: take ids, call a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from marketplace.accounts import password_reset_send, signup_send_mail
from marketplace.events import DISPATCH_BATCH, events_dispatch
from marketplace.idempotency import idempotency_keys_delete_expired
from marketplace.queue import enqueue
from marketplace.webhooks import (
    webhook_deliveries_due,
    webhook_previous_secrets_forget,
    webhooks_deliver,
)


@shared_task(name="marketplace.dispatch_events")
def dispatch_events() -> int:
    """Position new events and create their webhook deliveries, batch after batch."""
    handled = 0
    while True:
        batch = events_dispatch(limit=DISPATCH_BATCH)
        handled += batch
        if batch < DISPATCH_BATCH:
            return handled


@shared_task(name="marketplace.deliver_webhooks")
def deliver_webhooks(delivery_ids: list[Any]) -> None:
    """One attempt for each delivery of a batch, sent together; a failed one is retried
    by schedule."""
    webhooks_deliver(delivery_ids=delivery_ids)


@shared_task(name="marketplace.retry_due_webhooks")
def retry_due_webhooks() -> int:
    """Enqueue the deliveries whose retry time has come (or whose worker died)."""
    due = [str(delivery_id) for delivery_id in webhook_deliveries_due()]
    for start in range(0, len(due), 100):
        enqueue("marketplace.deliver_webhooks", due[start : start + 100])
    return len(due)


@shared_task(name="marketplace.delete_expired_idempotency_keys")
def delete_expired_idempotency_keys() -> int:
    """Forget the API's idempotency keys once they are older than 24 hours."""
    return idempotency_keys_delete_expired()


@shared_task(name="marketplace.forget_previous_webhook_secrets")
def forget_previous_webhook_secrets() -> int:
    """Erase the webhook secrets rotated out more than a day ago."""
    return webhook_previous_secrets_forget()


@shared_task(name="marketplace.send_signup_mail")
def send_signup_mail(email: str) -> None:
    """A sign-up's e-mail: the link to finish, or the note that the address has an account."""
    signup_send_mail(email=email)


@shared_task(name="marketplace.send_password_reset")
def send_password_reset(email: str) -> None:
    """A password reset's e-mail, to each active account of the address."""
    password_reset_send(email=email)
