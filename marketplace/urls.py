from django.urls import path

from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("vendor/", views.vendor_profile, name="vendor-profile"),
    path("vendor/keys/", views.api_keys, name="api-keys"),
    path("vendor/keys/<uuid:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
]
