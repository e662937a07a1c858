from django.urls import path

from marketplace import organization_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views.signup_sent, name="signup-sent"),
    path("signup/finish/<str:token>/", views.signup_finish, name="signup-finish"),
    path("me/", views.my_data, name="my-data"),
    path("me/blocks/<uuid:vendor_id>/remove/", views.unblock_vendor, name="unblock-vendor"),
    path("me/delete/", views.account_delete_view, name="account-delete"),
    path("me/skills/", organization_views.my_skills, name="my-skills"),
    path(
        "me/skills/<int:entry_id>/",
        organization_views.experience_edit,
        name="experience-edit",
    ),
    path("orgs/", organization_views.organizations, name="organizations"),
    path(
        "orgs/<slug:slug>/members/",
        organization_views.organization_members,
        name="organization-members",
    ),
    path(
        "orgs/<slug:slug>/members/<int:membership_id>/role/",
        organization_views.membership_role_view,
        name="membership-role",
    ),
    path(
        "orgs/<slug:slug>/members/<int:membership_id>/remove/",
        organization_views.membership_remove_view,
        name="membership-remove",
    ),
    path(
        "orgs/<slug:slug>/invitations/<uuid:invitation_id>/revoke/",
        organization_views.invitation_revoke_view,
        name="invitation-revoke",
    ),
    path("invitations/<str:token>/", organization_views.invitation_view, name="invitation"),
    path("vendor/", views.vendor_profile, name="vendor-profile"),
    path("vendor/keys/", views.api_keys, name="api-keys"),
    path("vendor/keys/<uuid:key_id>/revoke/", views.api_key_revoke_view, name="api-key-revoke"),
    path("vendor/webhooks/", views.webhooks, name="webhooks"),
    path("vendor/webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="webhook-detail"),
]
