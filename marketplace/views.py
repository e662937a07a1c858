from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import (
    LogoutView,
    PasswordChangeView,
    PasswordResetConfirmView,
    PasswordResetView,
)
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from marketplace.accounts import (
    LINK_MAX_AGE,
    signup_complete,
    signup_link_email,
    signup_request,
)
from marketplace.errors import DomainError
from marketplace.forms import (
    AccountDeleteForm,
    ApiKeyForm,
    OwnPasswordChangeForm,
    PasswordResetRequestForm,
    SignUpFinishForm,
    SignUpForm,
    VendorProfileForm,
    WebhookEndpointForm,
    add_domain_error,
)
from marketplace.models import User, Vendor, VendorBlock, WebhookDelivery, WebhookEndpoint
from marketplace.privacy import account_delete
from marketplace.selectors import (
    api_keys_of_vendor,
    deliveries_of_endpoint,
    webhook_endpoints_of_vendor,
)
from marketplace.services import (
    UNVERIFIED_BY_CHANGE,
    api_key_create,
    api_key_revoke,
    vendor_unblock,
    vendor_update,
)
from marketplace.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_redeliver,
    webhook_send_test,
)

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/home.html")


def signup(request: HttpRequest) -> HttpResponse:
    """The address first; the same answer whether it has an account or not."""
    if request.user.is_authenticated:
        return redirect("intents:mine")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        signup_request(email=form.cleaned_data["email"])
        return redirect("signup-sent")
    return render(request, "registration/signup.html", {"form": form})


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_sent.html", {"days": LINK_MAX_AGE.days})


def signup_finish(request: HttpRequest, token: str) -> HttpResponse:
    """Through the e-mailed link: choose a username and password, and the account is made."""
    try:
        email = signup_link_email(token=token)
    except DomainError as error:
        return render(
            request, "registration/signup_finish.html", {"problem": error.message}, status=400
        )
    form = SignUpFinishForm(request.POST or None, instance=User(email=email))
    if request.method == "POST" and form.is_valid():
        try:
            user = signup_complete(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Post your first intent.")
            return redirect("intents:new")
    return render(request, "registration/signup_finish.html", {"form": form, "email": email})


# Django's page, with the e-mail sent by a task (marketplace.accounts).
password_reset = PasswordResetView.as_view(form_class=PasswordResetRequestForm)


class PasswordSetByLinkView(PasswordResetConfirmView):
    """Django's page. A new password set through the e-mailed link also lifts the
    username's lockout (django-axes): the link proved the address is theirs."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        return response


password_reset_confirm = PasswordSetByLinkView.as_view()


class LogOutView(LogoutView):
    """POST logs out (Django's own). GET, a bookmarked or typed address, asks with a button
    (Django answers it with an empty 405)."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("home")
        return render(request, "registration/logout_confirm.html")


log_out = LogOutView.as_view()


def _staff_vendor(request: HttpRequest) -> Vendor:
    vendor = request.user.vendor  # type: ignore[union-attr]
    if vendor is None:
        raise PermissionDenied("Only a vendor's staff can manage a vendor.")
    return vendor


@login_required
def vendor_profile(request: HttpRequest) -> HttpResponse:
    vendor = _staff_vendor(request)
    initial = {
        "name": vendor.name,
        "description": vendor.description,
        "website": vendor.website,
        "contact_email": vendor.contact_email,
        "categories": list(vendor.categories.all()),
        "regions": ", ".join(vendor.regions),
        "keywords": ", ".join(vendor.keywords),
        "deal_size_min": vendor.deal_size_min,
        "deal_size_max": vendor.deal_size_max,
        "deal_size_currency": vendor.deal_size_currency,
        "daily_capacity": vendor.daily_capacity,
        "is_paused": vendor.is_paused,
    }
    form = VendorProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()  # what this page changed: the rest stays as saved meanwhile
        categories = changes.pop("categories", None)
        was_verified = vendor.is_verified
        try:
            vendor_update(vendor=vendor, categories=categories, **changes)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Profile saved.")
            if was_verified and not vendor.is_verified:
                messages.info(request, UNVERIFIED_BY_CHANGE)
            return redirect("vendor-profile")
    return render(request, "marketplace/vendor_profile.html", {"vendor": vendor, "form": form})


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The vendor's keys; a new one is shown on the answer that made it, and never again."""
    vendor = _staff_vendor(request)
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        if not _first_send(request, "api-key"):
            messages.info(request, KEY_SENT_AGAIN)
            return redirect("api-keys")
        try:
            with _made_or_forgotten(request, "api-key"):
                new_key = api_key_create(vendor=vendor, name=form.cleaned_data["name"]).raw_key
        except DomainError as error:
            add_domain_error(form, error)
        else:
            form = ApiKeyForm()
    return render(
        request,
        "marketplace/api_keys.html",
        {
            "vendor": vendor,
            "form": form,
            "keys": api_keys_of_vendor(vendor),
            "new_key": new_key,
            "form_token": uuid.uuid4(),
        },
    )


KEY_SENT_AGAIN = (
    "This form was sent already: the key it made is in the list, and its secret was shown"
    " only on that answer. If you did not copy it, revoke that key and make another."
)
ENDPOINT_SENT_AGAIN = (
    "This form was sent already: the endpoint it added is in the list, and its signing"
    " secret was shown only on that answer. If you did not copy it, open the endpoint and"
    " make a new signing secret."
)
SECRET_SENT_AGAIN = (
    "This form was sent already: the signing secret it made is in use, and was shown only"
    " on that answer. If you did not copy it, make another."
)
SENT_ONCE_SECONDS = 24 * 60 * 60


def _first_send(request: HttpRequest, form: str) -> bool:
    """Whether this POST is the first send of the page's form (and it is claimed now).

    A form whose answer shows a secret cannot redirect (the secret would be lost), so a
    reload, or Back then send, would post it again: the page's token makes the second
    send make no second key, endpoint or secret. A post without a token (a page from
    before the token) goes unguarded, as does every post when the cache does not answer.
    """
    key = _send_key(request, form)
    if key is None:
        return True
    try:
        return bool(cache.add(key, True, SENT_ONCE_SECONDS))
    except Exception:
        logger.exception("A form's guard against a second send could not reach the cache")
        return True


@contextmanager
def _made_or_forgotten(request: HttpRequest, form: str) -> Iterator[None]:
    """What the first send makes; refused (or failed), nothing was made: the claim is
    forgotten, so the same page, mended, may go, and is not told it was sent already."""
    try:
        yield
    except BaseException:
        _send_forget(request, form)
        raise


def _send_forget(request: HttpRequest, form: str) -> None:
    """The send made nothing: the same page may go again."""
    key = _send_key(request, form)
    if key is not None:
        try:
            cache.delete(key)
        except Exception:
            logger.exception("A form's guard against a second send could not reach the cache")


def _send_key(request: HttpRequest, form: str) -> str | None:
    try:
        token = uuid.UUID(request.POST.get("form_token") or "")
    except ValueError:
        return None
    return f"sent-once:{form}:{request.user.pk}:{token}"


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: str) -> HttpResponse:
    vendor = _staff_vendor(request)
    api_key = get_object_or_404(api_keys_of_vendor(vendor), pk=key_id)
    try:
        api_key_revoke(api_key=api_key)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"Key {api_key} revoked; it no longer works.")
    return redirect("api-keys")


@login_required
def webhooks(request: HttpRequest) -> HttpResponse:
    """The vendor's webhook endpoints; a new one's signing secret is shown once."""
    vendor = _staff_vendor(request)
    form = WebhookEndpointForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        if not _first_send(request, "webhook-endpoint"):
            messages.info(request, ENDPOINT_SENT_AGAIN)
            return redirect("webhooks")
        try:
            with _made_or_forgotten(request, "webhook-endpoint"):
                created = webhook_endpoint_create(vendor=vendor, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            form = WebhookEndpointForm()
    return render(
        request,
        "marketplace/webhooks.html",
        {
            "vendor": vendor,
            "form": form,
            "endpoints": webhook_endpoints_of_vendor(vendor),
            "created": created,
            "form_token": uuid.uuid4(),
        },
    )


@login_required
def webhook_detail(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """One endpoint and its delivery log; POST actions: change, test, redeliver,
    enable/disable, rotate the signing secret (the new one shown on the answer),
    delete (confirmed: its delivery log goes with it)."""
    vendor = _staff_vendor(request)
    endpoint = get_object_or_404(webhook_endpoints_of_vendor(vendor), pk=endpoint_id)
    current = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
    }
    form = WebhookEndpointForm(initial=current)
    rotated = False
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "update":
            form = WebhookEndpointForm(request.POST, initial=current)
            if form.is_valid():
                try:
                    webhook_endpoint_update(endpoint=endpoint, **form.changes())
                except DomainError as error:
                    add_domain_error(form, error)
                else:
                    messages.success(request, "Endpoint changed.")
                    return redirect("webhook-detail", endpoint_id=endpoint.pk)
            endpoint.refresh_from_db()  # the page shows the endpoint as it is stored
        elif action == "rotate":
            if not _first_send(request, "webhook-secret"):
                messages.info(request, SECRET_SENT_AGAIN)
                return redirect("webhook-detail", endpoint_id=endpoint.pk)
            try:
                with _made_or_forgotten(request, "webhook-secret"):
                    endpoint = webhook_endpoint_rotate_secret(endpoint=endpoint)
            except DomainError as error:
                messages.error(request, error.text)
                return redirect("webhook-detail", endpoint_id=endpoint.pk)
            rotated = True  # the new secret is on this answer only: no redirect to lose it
        else:
            return _webhook_action(request, endpoint, action)
    return render(
        request,
        "marketplace/webhook_detail.html",
        {
            "vendor": vendor,
            "endpoint": endpoint,
            "form": form,
            "deliveries": deliveries_of_endpoint(endpoint)[:50],
            "rotated": rotated,
            "form_token": uuid.uuid4(),
        },
    )


def _webhook_action(
    request: HttpRequest, endpoint: WebhookEndpoint, action: str | None
) -> HttpResponse:
    """A button on the endpoint's page; each ends back on the page, with what happened."""
    try:
        if action == "test":
            delivery = webhook_send_test(endpoint=endpoint)
            messages.info(request, f"Test sent: {_delivery_outcome(delivery)}.")
        elif action == "redeliver":
            delivery = get_object_or_404(
                deliveries_of_endpoint(endpoint), pk=_uuid_or_404(request.POST.get("delivery"))
            )
            delivery = webhook_redeliver(delivery=delivery)
            messages.info(request, f"Sent again: {_delivery_outcome(delivery)}.")
        elif action in ("enable", "disable"):
            webhook_endpoint_update(endpoint=endpoint, is_active=action == "enable")
            messages.success(request, f"Endpoint {action}d.")
        elif action == "delete":
            if request.POST.get("confirm") != "delete":
                messages.error(request, "Tick the box to confirm the deletion.")
            else:
                webhook_endpoint_delete(endpoint=endpoint)
                messages.success(request, "Endpoint deleted.")
                return redirect("webhooks")
        else:
            messages.error(request, "Nothing was done: choose one of the buttons.")
    except DomainError as error:
        messages.error(request, error.text)
    return redirect("webhook-detail", endpoint_id=endpoint.pk)


def _delivery_outcome(delivery: WebhookDelivery) -> str:
    answer = delivery.last_status_code or delivery.last_error or "no answer"
    if delivery.last_latency_ms is None:
        return str(answer)
    return f"{answer} ({delivery.last_latency_ms} ms)"


def _uuid_or_404(value: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        raise Http404("No such delivery.") from None


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """Export, the audit log, blocked vendors, and the way to delete the account."""
    return render(
        request,
        "marketplace/my_data.html",
        {
            "audit_entries": request.user.audit_entries.all()[:200],
            "blocks": VendorBlock.objects.filter(buyer=request.user).select_related("vendor"),
        },
    )


@login_required
@require_POST
def unblock_vendor(request: HttpRequest, vendor_id: str) -> HttpResponse:
    block = get_object_or_404(
        VendorBlock.objects.select_related("vendor"), buyer=request.user, vendor_id=vendor_id
    )
    vendor_unblock(buyer=request.user, vendor=block.vendor)
    messages.success(request, f"{block.vendor.name} may be told about your intents again.")
    return redirect("my-data")


@login_required
def account_delete_view(request: HttpRequest) -> HttpResponse:
    """GET explains what happens; POST, confirmed with the password, erases the account."""
    form = AccountDeleteForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        account_delete(user=request.user)
        logout(request)
        messages.success(request, "Your account and personal data are deleted.")
        return redirect("home")
    return render(
        request,
        "marketplace/account_delete.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


class OwnPasswordChangeView(PasswordChangeView):
    """Django's page, with the old password counted towards the lockout as a login is."""

    form_class = OwnPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return super().get_form_kwargs() | {"request": self.request}
