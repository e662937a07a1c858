from django.urls import path

from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("me/", views.my_data, name="my-data"),
    path("me/blocks/<uuid:vendor_id>/remove/", views.unblock_vendor, name="unblock-vendor"),
    path("me/delete/", views.account_delete_view, name="account-delete"),
    path("vendor/", views.vendor_profile, name="vendor-profile"),
    path("vendor/keys/", views.api_keys, name="api-keys"),
    path("vendor/keys/<uuid:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("vendor/webhooks/", views.webhooks, name="webhooks"),
    path("vendor/webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="webhook-detail"),
]
