"""The Celery application. Tasks live in each app's ``tasks.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("intentcast")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The beat schedule, in code. Every task may run twice without harm.
app.conf.beat_schedule = {
    # Matching asked for but not done: the broker was down or a worker died.
    "sweep-unmatched-intents": {"task": "intents.sweep_unmatched_intents", "schedule": 30.0},
    # A vendor's or person's catch-up (matching against what is already open), likewise.
    "sweep-catch-ups": {"task": "intents.sweep_catch_ups", "schedule": 60.0},
    # Events committed while the broker was down still get positions and deliveries.
    "dispatch-events": {"task": "marketplace.dispatch_events", "schedule": 15.0},
    # Webhook retries whose time has come (backoff with jitter, about three days).
    "retry-due-webhooks": {"task": "marketplace.retry_due_webhooks", "schedule": 30.0},
    # Deadlines: close intents with offers, expire those without.
    "close-due-intents": {"task": "offers.close_due_intents", "schedule": 60.0},
    # Offers past their valid-until date lapse, and their vendors are told.
    "lapse-due-offers": {"task": "offers.lapse_due_offers", "schedule": 15 * 60.0},
    # Buyers' batched e-mails (at most one an hour per intent): the only sender, so an
    # offer, revision or question costs its request no trip to the broker.
    "notify-buyers": {"task": "offers.notify_buyers", "schedule": 60.0},
    # Buyers' "delete my data N days after award" terms.
    "enforce-deletion-terms": {"task": "offers.enforce_deletion_terms", "schedule": 10 * 60.0},
    # Intents (public or internal RFPs) closed without a decision: remind the buyer (one
    # e-mail a day per intent at most; the claim on decision_reminded_at makes a second run
    # send nothing);
    # 14 days after the deadline, still undecided proposals are declined with the reason
    # (a public intent's buyer decides in their own time: reminded weekly from then on).
    "remind-posters": {"task": "offers.remind_posters", "schedule": 60 * 60.0},
    # Decisions on proposals whose e-mail to the authors was lost (broker down, send failed).
    "sweep-unannounced-proposals": {
        "task": "offers.sweep_unannounced_proposals",
        "schedule": 5 * 60.0,
    },
    # People gone from an organization (left, removed, deleted in the admin) whose RFPs,
    # proposals or co-authorships there are still live: the clean-up was lost.
    "sweep-departed-members": {"task": "offers.sweep_departed_members", "schedule": 5 * 60.0},
    # Notices whose e-mail was lost (broker down) or failed (a few tries).
    "sweep-unsent-notices": {"task": "intents.sweep_unsent_notices", "schedule": 5 * 60.0},
    # Idempotency keys are promised for 24 h; older ones are deleted so the table stays small.
    "delete-expired-idempotency-keys": {
        "task": "marketplace.delete_expired_idempotency_keys",
        "schedule": 60 * 60.0,
    },
    # A webhook secret rotated out signs for a day beside the new one, then is erased.
    "forget-previous-webhook-secrets": {
        "task": "marketplace.forget_previous_webhook_secrets",
        "schedule": 60 * 60.0,
    },
}
