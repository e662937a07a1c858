"""The vendor REST API, ``/api/v1/``."""

import uuid

from csp.constants import SELF
from csp.decorators import csp_update
from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.routers import SimpleRouter

from intents.api.views import NoticeViewSet, VendorIntentViewSet
from marketplace.api.me import MyDataExportView
from marketplace.api.views import (
    CategoryViewSet,
    EventFeedView,
    VendorProfileView,
    WebhookEndpointViewSet,
)
from offers.api.views import IntentQuestionsView, OfferViewSet


class AnyCaseUUIDConverter:
    """A UUID in either letter case, with or without dashes: as the router's detail
    routes read one, so an id written in capitals names the same intent on every route."""

    regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(AnyCaseUUIDConverter, "any_case_uuid")

router = SimpleRouter()
router.register("intents", VendorIntentViewSet, basename="intent")
router.register("offers", OfferViewSet, basename="offer")
router.register("categories", CategoryViewSet, basename="category")
router.register("notices", NoticeViewSet, basename="notice")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    path("vendor/", VendorProfileView.as_view(), name="vendor"),
    path("events/", EventFeedView.as_view(), name="events"),
    path("me/export/", MyDataExportView.as_view(), name="me-export"),
    path(
        "intents/<any_case_uuid:intent_id>/questions/",
        IntentQuestionsView.as_view(),
        name="intent-questions",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        # ReDoc styles itself with <style> elements it writes at run time and
        # searches in a blob: worker; our own pages need neither.
        csp_update({"style-src": ["'unsafe-inline'"], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    *router.urls,
]
