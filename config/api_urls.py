"""The vendor REST API, ``/api/v1/``."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView
from rest_framework.routers import SimpleRouter

from intents.api.views import VendorIntentViewSet
from marketplace.api.views import CategoryViewSet, VendorProfileView
from offers.api.views import OfferViewSet

router = SimpleRouter()
router.register("intents", VendorIntentViewSet, basename="intent")
router.register("offers", OfferViewSet, basename="offer")
router.register("categories", CategoryViewSet, basename="category")

urlpatterns = [
    path("vendor/", VendorProfileView.as_view(), name="vendor"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
]
