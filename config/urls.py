from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(("config.api_urls", "api"), namespace="api")),
    path("intents/", include("intents.urls")),
    path("", include("offers.urls")),
    path("", include("marketplace.urls")),
]
