"""Webhook endpoints and signed deliveries, per the Standard Webhooks specification.

Headers ``webhook-id`` (stable per event and endpoint, so a retry carries
the same id), ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64
HMAC-SHA256 of id.timestamp.body>``, made by the ``standardwebhooks`` library).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import queue
import random
import secrets
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from marketplace.counters import count_or_refuse
from marketplace.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from marketplace.events import EVENT_TYPES, TEST_EVENT_TYPE, event_body, events_no_longer_to_tell
from marketplace.models import Event, Vendor, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from marketplace.services import SUSPENDED

logger = logging.getLogger(__name__)

# A delivery whose event stopped applying before it went (see events_no_longer_to_tell).
NO_LONGER_APPLIES = "no longer applies: the vendor may not read this intent any more"
TIMEOUT_SECONDS = 10
# An address that does not answer at all (a dead host among several, no IPv6 route)
# is given up after this, leaving the rest of the attempt's time to the next one.
CONNECT_TIMEOUT_SECONDS = 3
# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
# — about three days in all — each with ±20 % jitter so retries spread out.
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
USER_AGENT = "Intentcast-Webhooks/1"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def next_retry_delay(attempts: int) -> timedelta | None:
    """The wait before attempt ``attempts + 1``, or None when we give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1]
    return base * random.uniform(0.8, 1.2)


# NAT64: the well-known prefix (RFC 6052) and the local-use one (RFC 8215), whose
# last 32 bits are the IPv4 address reached.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# IPv6 ranges Python 3.11 still calls global: IPv4-compatible (deprecated, ::127.0.0.1
# among them) and IPv4-translated (SIIT) addresses. Site-local ones, fec0::/10, are
# refused as well.
IPV6_NOT_PUBLIC = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("::ffff:0:0:0/96"))


def _is_private(address: str) -> bool:
    """Not a public unicast address: private, loopback, link-local, shared (100.64/10), …

    An IPv6 address carrying an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by
    that one too.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = (
            ip.ipv4_mapped
            or ip.sixtofour
            or (ip.teredo[1] if ip.teredo else None)
            or (
                ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                if any(ip in prefix for prefix in NAT64_PREFIXES)
                else None
            )
        )
        if embedded is not None and _is_private(str(embedded)):
            return True
        if ip.is_site_local or any(ip in prefix for prefix in IPV6_NOT_PUBLIC):
            return True
    return not ip.is_global or ip.is_multicast


def check_webhook_target(url: str) -> list[str]:
    """Refuse URLs that are not http(s), or that resolve to a private address.

    Checked when an endpoint is saved and again before every attempt, since
    a name can be pointed elsewhere in between. Returns the addresses checked, in
    the resolver's order, for the attempt to connect to (the name could point
    elsewhere again by the time it connects); none where private targets are allowed.
    """
    parts = urlsplit(url)
    allowed_schemes = ("https",) if settings.WEBHOOKS_REQUIRE_HTTPS else ("https", "http")
    try:
        httpx.URL(url).host  # noqa: B018 -- what will send it: a host IDNA refuses is refused here
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise DomainError(
            "The URL is not one we can send to.", errors={"url": ["This URL is not valid."]}
        ) from None
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise DomainError(
            "The URL must be an absolute " + " or ".join(allowed_schemes) + " URL.",
            errors={"url": ["Give an absolute https URL."]},
        )
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when it is read
    except ValueError:
        raise DomainError(
            "The URL's port is not a number from 0 to 65535.",
            errors={"url": ["The port must be a number from 0 to 65535."]},
        ) from None
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return []
    # The name as httpx sends it (IDNA 2008: "faß.de" is xn--fa-hia.de, not fass.de).
    host = httpx.URL(url).raw_host.decode("ascii")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DomainError(
            "The URL's host does not resolve.", errors={"url": ["The host does not resolve."]}
        ) from error
    if not infos or any(_is_private(info[4][0]) for info in infos):
        raise DomainError(
            "Webhook URLs may not point to private, loopback or link-local addresses.",
            errors={"url": ["This address is private, loopback or link-local."]},
        )
    return list(dict.fromkeys(info[4][0] for info in infos))


# A URL saved on a page or through the API is looked up in the request: within this long.
SAVE_LOOKUP_SECONDS = 5


def _check_when_saved(url: str) -> None:
    """:func:`check_webhook_target` within ``SAVE_LOOKUP_SECONDS``: a name server that
    hangs costs the vendor's request a few seconds, not a web worker for half a minute.
    The lookup runs in a thread of its own, left to finish (or fail) by itself."""
    lookup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-lookup")
    try:
        lookup.submit(check_webhook_target, url).result(timeout=SAVE_LOOKUP_SECONDS)
    except FutureTimeoutError:
        raise DomainError(
            f"The URL's host did not resolve within {SAVE_LOOKUP_SECONDS} s.",
            errors={"url": ["The host did not resolve in time; try again."]},
        ) from None
    finally:
        lookup.shutdown(wait=False)


def _clean_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise DomainError(
            "Unknown event types.",
            errors={"event_types": [f"Unknown: {', '.join(unknown)}."]},
        )
    return sorted(set(event_types))


def webhook_endpoint_create(
    *,
    vendor: Vendor,
    url: str,
    description: str = "",
    event_types: list[str] | None = None,
    is_active: bool = True,
) -> WebhookEndpoint:
    _check_when_saved(url)
    with transaction.atomic():
        # The vendor's row, locked: two creations at once cannot both take the last place.
        Vendor.objects.select_for_update(no_key=True).filter(pk=vendor.pk).first()
        endpoints = WebhookEndpoint.objects.filter(vendor=vendor)
        if endpoints.count() >= MAX_ENDPOINTS:
            raise DomainError(
                f"A vendor has at most {MAX_ENDPOINTS} webhook endpoints: delete one first.",
                kind=CONFLICT,
            )
        _refuse_same_url(endpoints, url)
        with _one_endpoint_per_url():
            return WebhookEndpoint.objects.create(
                vendor=vendor,
                url=url,
                description=description,
                event_types=_clean_event_types(event_types or []),
                is_active=is_active,
                secret=new_secret(),
            )


# Each event goes to each of a vendor's endpoints: a few are enough for any integration,
# and more would turn the workers into an amplifier aimed at one receiver.
MAX_ENDPOINTS = 10


SAME_URL = "You already have an endpoint at this URL."


def _refuse_same_url(endpoints: Any, url: str) -> None:
    """Asked first, for the answer's sake; the unique constraint settles a race."""
    if endpoints.filter(url=url).exists():
        raise DomainError(SAME_URL, kind=CONFLICT, errors={"url": [SAME_URL]})


@contextmanager
def _one_endpoint_per_url() -> Iterator[None]:
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:  # webhook_endpoint_url_once: another request was first
        raise DomainError(SAME_URL, kind=CONFLICT, errors={"url": [SAME_URL]}) from error


OFF_BY_AN_OPERATOR = "An operator turned this endpoint off; only an operator turns it on again."
URL_KEPT_BY_AN_OPERATOR = (
    "An operator turned this endpoint off; its URL stays until an operator turns it on again."
)


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, by_operator: bool = False, **changes: Any
) -> WebhookEndpoint:
    """Change an endpoint: the vendor's own changes, or an operator's (``by_operator``, the
    admin), whose turning it off the vendor cannot undo."""
    # The reason an endpoint is off is the operator's (the admin) or the sender's (a 410).
    allowed = {"url", "description", "event_types", "is_active", "disabled_reason"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", kind=INVALID)
    if "is_active" in changes and by_operator:
        changes["disabled_by_operator"] = not changes["is_active"]
    elif (
        changes.get("is_active")
        and WebhookEndpoint.objects.filter(pk=endpoint.pk, disabled_by_operator=True).exists()
    ):
        raise DomainError(
            OFF_BY_AN_OPERATOR, kind=FORBIDDEN, errors={"is_active": [OFF_BY_AN_OPERATOR]}
        )
    elif (
        "url" in changes
        and not by_operator
        and changes["url"] != endpoint.url
        and WebhookEndpoint.objects.filter(pk=endpoint.pk, disabled_by_operator=True).exists()
    ):
        # Moved, its URL would be free for a new endpoint, receiving what was stopped.
        raise DomainError(
            URL_KEPT_BY_AN_OPERATOR, kind=FORBIDDEN, errors={"url": [URL_KEPT_BY_AN_OPERATOR]}
        )
    if "url" in changes:
        _check_when_saved(changes["url"])
        _refuse_same_url(
            WebhookEndpoint.objects.filter(vendor_id=endpoint.vendor_id).exclude(pk=endpoint.pk),
            changes["url"],
        )
    if "event_types" in changes:
        changes["event_types"] = _clean_event_types(changes["event_types"])
    if changes.get("is_active"):
        changes["disabled_reason"] = ""
    for field, value in changes.items():
        setattr(endpoint, field, value)
    # The changed columns alone: a rotation of the secret (or a 410 that turned the
    # endpoint off) committed since the endpoint was read is kept.
    with _one_endpoint_per_url():
        endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


KEPT_BY_AN_OPERATOR = (
    "An operator turned this endpoint off; only an operator deletes it (made again at its"
    " URL, it would receive what the operator stopped)."
)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The vendor deletes its endpoint, with its delivery log. One an operator turned
    off stays, so that it is not made again at once at the same URL, receiving."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
        if locked is None:
            return  # deleted already
        if locked.disabled_by_operator:
            raise DomainError(KEPT_BY_AN_OPERATOR, kind=FORBIDDEN)
        locked.delete()


# How long the secret before a rotation still signs, beside the new one.
PREVIOUS_SECRET_DAYS = 1


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret, returned on the endpoint (shown to the vendor this once).

    For ``PREVIOUS_SECRET_DAYS`` each delivery carries a signature by the old secret
    too (Standard Webhooks lists several, space-separated): the receiver keeps
    accepting deliveries until it checks with the new one.
    """
    if Vendor.objects.filter(pk=endpoint.vendor_id, is_suspended=True).exists():
        raise DomainError(SUSPENDED, kind=FORBIDDEN)
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not (locked.previous_secret_until and locked.previous_secret_until > now):
            locked.previous_secret = locked.secret
        # else a second rotation within the day (a button pressed twice, an answer lost
        # and asked again): the secret from before the first one is the one a receiver
        # may still hold, and it keeps signing; the one in between was never used.
        locked.previous_secret_until = now + timedelta(days=PREVIOUS_SECRET_DAYS)
        locked.secret = new_secret()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return locked


def webhook_previous_secrets_forget() -> int:
    """Erase the secrets rotated out whose day is over: one that signs nothing any
    more can only leak. Returns how many were erased."""
    return (
        WebhookEndpoint.objects.filter(previous_secret_until__lte=timezone.now())
        .exclude(previous_secret="")
        .update(previous_secret="", previous_secret_until=None)
    )


def _sign(endpoint: WebhookEndpoint, message_id: str, body: str) -> dict[str, str]:
    now = timezone.now()
    signatures = [Webhook(endpoint.secret).sign(message_id, now, body)]
    if endpoint.previous_secret and (endpoint.previous_secret_until or now) > now:
        signatures.append(Webhook(endpoint.previous_secret).sign(message_id, now, body))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _claim(delivery_id: Any) -> bool:
    """Take a due delivery for one attempt; False if another worker has it or it is done."""
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).update(claimed_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS))
    )


def webhook_deliver(*, delivery_id: Any) -> WebhookDelivery | None:
    """One attempt of one delivery, if it is due and nobody else is on it."""
    done = webhooks_deliver(delivery_ids=[delivery_id])
    return done[0] if done else None


# A batch's requests go out together, this many at a time to one host: a receiver that
# is slow (or never answers, or whose name is slow to look up) holds up its own
# deliveries, not the other vendors'; and a batch is no amplifier aimed at one host.
SENDS_PER_HOST = 4


@dataclass
class _Attempt:
    delivery: WebhookDelivery
    body: str = ""
    status_code: int | None = None
    error: str = ""
    latency_ms: int = 0
    done: bool = False


def webhooks_deliver(*, delivery_ids: list[Any]) -> list[WebhookDelivery]:
    """One attempt for each delivery of a batch that is due and that nobody else is on.

    Their requests are sent together (``SENDS_PER_HOST`` at a time to one host),
    each within ``TIMEOUT_SECONDS`` (and its name looked up within as much), by an
    event loop in a thread of its own (:class:`_Sender`); this thread records each
    attempt as soon as it ends, so a worker that dies sends again only what was in
    flight. Should the task's time run out, the sender is stopped (nothing more goes
    out), the attempts that ended are recorded, and the others let go, uncounted, for
    the sweep.
    """
    handled: list[WebhookDelivery] = []
    to_send: list[_Attempt] = []
    ended: queue.SimpleQueue[_Attempt] = queue.SimpleQueue()
    recorded: set[int] = set()  # id() of each attempt recorded
    sender: _Sender | None = None
    try:
        for delivery_id in delivery_ids:
            try:
                delivery, attempt = _prepare(delivery_id)
            except SoftTimeLimitExceeded:
                raise
            except Exception:  # the others still go; its claim runs out, the sweep retries
                logger.exception("Webhook delivery %s could not be prepared", delivery_id)
                continue
            if delivery is not None:
                handled.append(delivery)
            if attempt is not None:
                to_send.append(attempt)
        sender = _Sender(to_send, ended.put)
        sender.start()
        while len(recorded) < len(to_send):
            attempt = ended.get()
            _record(attempt)
            recorded.add(id(attempt))
    except SoftTimeLimitExceeded:
        # The task's time is up, not the receivers' fault.
        if sender is not None:
            sender.stop()
        while not ended.empty():
            attempt = ended.get()
            if attempt.error != SENDER_STOPPED:
                _record(attempt)
                recorded.add(id(attempt))
        for attempt in to_send:  # not sent, cut off, or being recorded when time ran out
            if id(attempt) not in recorded:
                WebhookDelivery.objects.filter(
                    pk=attempt.delivery.pk, claimed_until=attempt.delivery.claimed_until
                ).update(claimed_until=None)
        raise
    sender.join()
    return handled


def _prepare(delivery_id: Any) -> tuple[WebhookDelivery | None, _Attempt | None]:
    """Claim a delivery and make its attempt, or finish it when it is no longer to send."""
    if not _claim(delivery_id):
        return None, None
    delivery = WebhookDelivery.objects.select_related("event", "endpoint__vendor").get(
        pk=delivery_id
    )
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _finish(delivery, status=WebhookDelivery.Status.FAILED, error="endpoint disabled")
        return delivery, None
    if endpoint.vendor.is_suspended:  # suspended after the delivery was made
        _finish(delivery, status=WebhookDelivery.Status.FAILED, error="vendor suspended")
        return delivery, None
    if events_no_longer_to_tell([delivery.event]):
        _finish(delivery, status=WebhookDelivery.Status.FAILED, error=NO_LONGER_APPLIES)
        return delivery, None
    body = json.dumps(event_body(delivery.event), separators=(",", ":"))
    return delivery, _Attempt(delivery, body=body)


SENDER_STOPPED = "not sent: the sender stopped"


class _Sender(threading.Thread):
    """The batch's event loop, in a thread of its own; every attempt ends, sent or not,
    so the task never waits in vain. :meth:`stop` cancels what is under way and waits
    (briefly) for the loop to end: nothing is sent after it."""

    def __init__(self, attempts: list[_Attempt], ended: Callable[[_Attempt], None]) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.attempts, self.ended = attempts, ended
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(_send_all(attempts, ended))

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("The webhook sender stopped")
        finally:
            # As asyncio.run ends: what is still under way is cancelled, and let finish.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            with suppress(Exception):
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
            for attempt in self.attempts:
                if not attempt.done:
                    attempt.error, attempt.done = SENDER_STOPPED, True
                    self.ended(attempt)

    def stop(self) -> None:
        if not self.loop.is_closed():
            with suppress(RuntimeError):  # the loop closed in between
                self.loop.call_soon_threadsafe(self.task.cancel)
        self.join(timeout=5)


async def _send_all(attempts: list[_Attempt], ended: Callable[[_Attempt], None]) -> None:
    """Send every attempt, ``SENDS_PER_HOST`` at a time to one host (by the address its
    name led to); hand each to ``ended`` as soon as it ends. No database here: this runs
    in the sender's thread."""
    limits: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(SENDS_PER_HOST))
    # Name lookups block: in threads, each name once a batch, so one that hangs holds up
    # its own host's deliveries alone (and is not waited for: they gave up on it).
    lookups = ThreadPoolExecutor(max_workers=min(32, max(len(attempts), 1)))
    looked_up: dict[str, asyncio.Future[list[str]]] = {}
    loop = asyncio.get_running_loop()

    def look_up(url: str) -> asyncio.Future[list[str]]:
        if url not in looked_up:
            looked_up[url] = loop.run_in_executor(lookups, check_webhook_target, url)
        return looked_up[url]

    async def send(attempt: _Attempt) -> None:
        await _send(attempt, look_up, limits)
        ended(attempt)

    try:
        await asyncio.gather(*(send(attempt) for attempt in attempts))
    finally:
        lookups.shutdown(wait=False, cancel_futures=True)


async def _send(
    attempt: _Attempt,
    look_up: Callable[[str], asyncio.Future[list[str]]],
    limits: dict[str, asyncio.Semaphore],
) -> None:
    """One request: its status, or why there is none. Never raises but for cancellation."""
    delivery, endpoint = attempt.delivery, attempt.delivery.endpoint
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            addresses = await asyncio.shield(look_up(endpoint.url))
        host = addresses[0] if addresses else (urlsplit(endpoint.url).hostname or "")
        async with limits[host]:
            # The receiver's answer time: not the wait for a place among its host's sends.
            started = time.monotonic()
            attempt.status_code = await _post(
                endpoint.url,
                attempt.body,
                _sign(endpoint, delivery.message_id, attempt.body),
                addresses,
            )
    except DomainError as refused:
        attempt.error = f"refused: {refused.message}"
    except TimeoutError:
        attempt.error = f"no answer within {TIMEOUT_SECONDS} s"
    except httpx.HTTPError as failure:
        attempt.error = f"{type(failure).__name__}: {failure}"[:300]
    except Exception as failure:  # whatever else: an attempt that failed, never a stuck one
        logger.exception("Webhook delivery %s failed unexpectedly", delivery.pk)
        attempt.error = f"{type(failure).__name__}: {failure}"[:300]
    attempt.latency_ms = int((time.monotonic() - started) * 1000)
    attempt.done = True


async def _post(url: str, body: str, headers: dict[str, str], addresses: list[str]) -> int:
    """POST and read the answer within ``TIMEOUT_SECONDS`` in all: a receiver trickling its
    answer a byte at a time is cut off (httpx's own timeouts are per read).

    To the ``addresses`` checked, each in turn while one cannot be reached: with
    the name's own ``Host`` header and, over TLS, its server name and certificate
    check, but no second lookup of the name. Through ``WEBHOOKS_PROXY`` when set
    (the proxy then looks the name up); never through a proxy the environment names.
    """
    proxy = settings.WEBHOOKS_PROXY or None
    content = body.encode()
    async with (
        asyncio.timeout(TIMEOUT_SECONDS),
        httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment …
            verify=httpx.create_ssl_context(),  # … but its SSL_CERT_FILE / SSL_CERT_DIR
            proxy=proxy,
        ) as client,
    ):

        async def status_of(url: httpx.URL | str, **options: Any) -> int:
            # The answer's status alone: its body is never read (nor decompressed), so
            # no answer, however large, reaches this process's memory.
            async with client.stream("POST", url, content=content, **options) as response:
                return response.status_code

        if proxy is not None or not addresses:
            return await status_of(url, headers=headers)
        target = httpx.URL(url)
        pinned_headers = headers | {"host": target.netloc.decode("ascii")}
        extensions = (
            {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
        )

        async def to(address: str) -> int:
            return await status_of(
                target.copy_with(host=address), headers=pinned_headers, extensions=extensions
            )

        for address in addresses[:-1]:
            with suppress(httpx.ConnectError, httpx.ConnectTimeout):  # the next one
                return await to(address)
        return await to(addresses[-1])


def _record(attempt: _Attempt) -> None:
    """Log the attempt; then, if this attempt still holds the delivery's claim and it is
    pending, count it and set what comes next. An attempt that lost its claim (it ran out)
    is logged only: it never turns a delivered webhook back to pending."""
    delivery, status_code, error = attempt.delivery, attempt.status_code, attempt.error
    latency_ms = attempt.latency_ms
    now = timezone.now()
    with transaction.atomic():
        # Locked, and still there: its endpoint may have been deleted during the attempt.
        if not list(
            WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).values("pk")
        ):
            return
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status_code, latency_ms=latency_ms, error=error
        )
        attempts = delivery.attempts + 1
        outcome: dict[str, Any] = {}
        if status_code is not None and 200 <= status_code < 300:
            outcome = {
                "status": WebhookDelivery.Status.SUCCEEDED,
                "delivered_at": now,
                "next_attempt_at": None,
            }
        elif status_code == 410:
            outcome = {"status": WebhookDelivery.Status.FAILED, "next_attempt_at": None}
        else:
            delay = next_retry_delay(attempts)
            if delay is None:
                outcome = {"status": WebhookDelivery.Status.FAILED, "next_attempt_at": None}
            else:
                outcome = {"next_attempt_at": now + delay}
        counted = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status=WebhookDelivery.Status.PENDING,
            claimed_until=delivery.claimed_until,
        ).update(
            attempts=F("attempts") + 1,
            last_status_code=status_code,
            last_latency_ms=latency_ms,
            last_error=error,
            claimed_until=None,
            **outcome,
        )
        if counted and status_code == 410:
            # The receiver says it is gone for good: stop sending to it.
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
                is_active=False, disabled_reason="the receiver answered 410 Gone"
            )
    delivery.refresh_from_db()


def _finish(delivery: WebhookDelivery, *, status: str, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, last_error=error, claimed_until=None, next_attempt_at=None
    )
    delivery.refresh_from_db()


def webhook_deliveries_due(*, limit: int = 500) -> list[Any]:
    """Pending deliveries whose time has come and that no live worker holds."""
    now = timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def webhook_redeliver(*, delivery: WebhookDelivery, by_vendor: bool = True) -> WebhookDelivery:
    """Send a delivery again now (a vendor's request, or an operator's: ``by_vendor``
    False), same webhook-id.

    Not for a suspended vendor's endpoint: its webhooks get nothing. A vendor sends
    by hand at most ``MANUAL_SENDS_PER_MINUTE`` a minute.
    """
    if Vendor.objects.filter(pk=delivery.endpoint.vendor_id, is_suspended=True).exists():
        raise DomainError(SUSPENDED, kind=FORBIDDEN)
    if not delivery.endpoint.is_active:
        raise DomainError("The endpoint is disabled; enable it first.", kind=CONFLICT)
    if by_vendor:
        _count_manual_send(delivery.endpoint.vendor_id)
    now = timezone.now()
    taken = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, claimed_until=None)
    )
    if not taken:
        raise DomainError("An attempt is under way; try again in a minute.", kind=CONFLICT)
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


# A delivery sent by hand (a test, or one sent again) holds its request for as long as
# the receiver takes to answer (up to the 10 s timeout): a few a minute per vendor.
MANUAL_SENDS_PER_MINUTE = 10
MANUAL_SENDS_COUNTER_PREFIX = "webhook-manual-sends:"


def _count_manual_send(vendor_id: Any) -> None:
    count_or_refuse(
        f"{MANUAL_SENDS_COUNTER_PREFIX}{vendor_id}",
        limit=MANUAL_SENDS_PER_MINUTE,
        seconds=60,
        message=f"At most {MANUAL_SENDS_PER_MINUTE} deliveries sent by hand a minute;"
        " try again in a minute.",
    )


def webhook_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``webhook.test`` event to one endpoint now and return its delivery.

    Not for a suspended vendor's endpoint: its webhooks get nothing. Not for a disabled
    one. Counted with the deliveries sent again (``MANUAL_SENDS_PER_MINUTE``).
    """
    if Vendor.objects.filter(pk=endpoint.vendor_id, is_suspended=True).exists():
        raise DomainError(SUSPENDED, kind=FORBIDDEN)
    if not endpoint.is_active:
        raise DomainError("The endpoint is disabled; enable it first.", kind=CONFLICT)
    _count_manual_send(endpoint.vendor_id)
    with transaction.atomic():
        event = Event.objects.create(
            vendor_id=endpoint.vendor_id,
            type=TEST_EVENT_TYPE,
            payload={"endpoint": str(endpoint.pk), "message": "This is a test delivery."},
            dedupe_key=f"test:{uuid.uuid4().hex}",
        )
        delivery = WebhookDelivery.objects.create(
            event=event,
            endpoint=endpoint,
            message_id=f"msg_{uuid.uuid4().hex}",
            next_attempt_at=timezone.now(),
        )
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery
