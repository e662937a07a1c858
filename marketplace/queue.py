"""Enqueue Celery tasks only after the transaction commits, without ever failing the caller.

Tasks are looked up by name in the Celery app, so a service can ask for a
task without importing the module that defines it (tasks import services,
not the other way round).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# Once the broker failed to take a task, this process sends none for a while: a broker
# that hangs costs one request its timeouts, not every request (the sweeps send again
# what has an outbox).
BROKER_PAUSE_SECONDS = 10.0
_broker_paused_until = 0.0


def enqueue(task_name: str, *args: Any) -> None:
    """Send the task now. A broker that is down is logged, not raised.

    What must not be lost is already in the database (an outbox row, an
    intent marked ``needs_matching``), and a periodic sweep sends it again.
    An account e-mail (a sign-up's link, a password reset) has no outbox:
    the person asks again, as the page they saw tells them.
    """
    global _broker_paused_until
    task = current_app.tasks[task_name]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply(args=args).get()  # embedded default and tests: errors surface
        return
    if time.monotonic() < _broker_paused_until:
        logger.warning("Not enqueuing %s: the broker failed moments ago.", task_name)
        return
    try:
        task.apply_async(args=args)
    except Exception:  # the broker is unreachable: kombu, redis and socket errors alike
        _broker_paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
        logger.warning(
            "Could not enqueue %s; a sweep sends what has an outbox again.",
            task_name,
            exc_info=True,
        )


def broker_failure_forget() -> None:
    """Send the next task at once, whatever failed before: the broker was changed, or
    is known to be back."""
    global _broker_paused_until
    _broker_paused_until = 0.0


def enqueue_on_commit(task_name: str, *args: Any) -> None:
    transaction.on_commit(partial(enqueue, task_name, *args))
