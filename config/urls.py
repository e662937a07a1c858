from django.contrib import admin
from django.urls import include, path, re_path

from marketplace import views as marketplace_views
from marketplace.api.problems import api_address_unknown, problem_type

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's own: its e-mail is sent by a task.
    path("accounts/password_reset/", marketplace_views.password_reset, name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        marketplace_views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("accounts/logout/", marketplace_views.log_out, name="logout"),
    path(
        "accounts/password_change/",
        marketplace_views.OwnPasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(("config.api_urls", "api"), namespace="api")),
    # A problem's type, as written in it (no slash): its documentation.
    path("api/v1/problems/<slug:slug>", problem_type, name="problem-type"),
    # Ending in a slash: an address without one is sent to it first (APPEND_SLASH), as
    # the API's own are.
    re_path(r"^api/(?:.*/)?$", api_address_unknown),
    path("intents/", include("intents.urls")),
    path("", include("offers.urls")),
    path("", include("marketplace.urls")),
]

# Problem details (RFC 9457) under /api/, the usual pages elsewhere.
handler400 = "marketplace.api.problems.handler400"
handler403 = "marketplace.api.problems.handler403"
handler404 = "marketplace.api.problems.handler404"
handler500 = "marketplace.api.problems.handler500"
