"""What runs after a commit never undoes the answer the request gave: an e-mail that
fails is logged, and a broker that just failed is not asked again for every task."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from django.core.mail.backends import locmem
from django.test import Client

from marketplace import queue
from marketplace.models import Invitation
from marketplace.queue import enqueue
from tests.factories import OrganizationFactory, org_member


@pytest.mark.django_db(transaction=True)
def test_an_invitation_saved_is_answered_as_saved_though_its_e_mail_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    organization = OrganizationFactory()
    owner = org_member(organization, role="owner")

    def mail_server_down(*args: Any, **kwargs: Any) -> int:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", mail_server_down)
    client = Client(raise_request_exception=False)
    client.force_login(owner)

    response = client.post(
        f"/orgs/{organization.slug}/members/", {"email": "new@example.test", "role": "member"}
    )

    assert response.status_code == 302  # saved, and told so: not a 500 after the commit
    assert Invitation.objects.filter(email="new@example.test").exists()
    assert "An e-mail after commit was not sent" in caplog.text


def test_a_broker_that_just_failed_is_left_alone_for_a_while(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(queue, "_broker_paused_until", 0.0)
    tried = []

    def broker_hangs(*args: Any, **kwargs: Any) -> None:
        tried.append(args)
        raise TimeoutError("timed out")

    task = queue.current_app.tasks["marketplace.dispatch_events"]
    monkeypatch.setattr(task, "apply_async", broker_hangs)

    enqueue("marketplace.dispatch_events")
    enqueue("marketplace.dispatch_events")  # a moment later: not tried again

    assert len(tried) == 1
    monkeypatch.setattr(queue, "_broker_paused_until", 0.0)  # the pause is over
    enqueue("marketplace.dispatch_events")
    assert len(tried) == 2
