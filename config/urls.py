from django.contrib import admin
from django.contrib.auth.views import PasswordResetView
from django.urls import include, path

from marketplace.forms import LimitedPasswordResetForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/password_reset/",
        PasswordResetView.as_view(form_class=LimitedPasswordResetForm),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(("config.api_urls", "api"), namespace="api")),
    path("intents/", include("intents.urls")),
    path("", include("offers.urls")),
    path("", include("marketplace.urls")),
]

# Problem details (RFC 9457) under /api/, the usual pages elsewhere.
handler400 = "marketplace.api.problems.handler400"
handler404 = "marketplace.api.problems.handler404"
handler500 = "marketplace.api.problems.handler500"
