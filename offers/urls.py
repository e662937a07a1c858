from django.urls import path

from offers import internal_views, views

app_name = "offers"

urlpatterns = [
    path("intents/<uuid:intent_id>/", views.intent_page, name="intent"),
    path("intents/<uuid:intent_id>/withdraw/", views.intent_withdraw_view, name="withdraw-intent"),
    path("offers/<uuid:offer_id>/accept/", views.offer_accept_view, name="accept"),
    path("offers/<uuid:offer_id>/decline/", views.offer_decline_view, name="decline"),
    path("offers/<uuid:offer_id>/move/", views.offer_move_view, name="move"),
    path("offers/<uuid:offer_id>/shortlist/", views.offer_shortlist_view, name="shortlist"),
    path("offers/<uuid:offer_id>/rate/", views.offer_rate_view, name="rate"),
    path("offers/<uuid:offer_id>/reveal/", views.offer_reveal_view, name="reveal"),
    path("offers/<uuid:offer_id>/block/", views.offer_block_vendor_view, name="block"),
    path("questions/<uuid:question_id>/answer/", views.question_answer_view, name="answer"),
    path("orgs/<slug:slug>/", internal_views.organization_page, name="organization"),
    path(
        "orgs/<slug:slug>/dashboard/",
        internal_views.organization_dashboard_view,
        name="organization-dashboard",
    ),
    path("orgs/<slug:slug>/rfps/new/", internal_views.rfp_new, name="rfp-new"),
    path("orgs/<slug:slug>/rfps/<uuid:intent_id>/", internal_views.rfp_page, name="rfp"),
    path(
        "orgs/<slug:slug>/rfps/<uuid:intent_id>/propose/",
        internal_views.rfp_propose,
        name="rfp-propose",
    ),
    path(
        "orgs/<slug:slug>/rfps/<uuid:intent_id>/award/", internal_views.rfp_award, name="rfp-award"
    ),
    path(
        "orgs/<slug:slug>/rfps/<uuid:intent_id>/withdraw/",
        internal_views.rfp_withdraw,
        name="rfp-withdraw",
    ),
    path(
        "orgs/<slug:slug>/proposals/<uuid:proposal_id>/coauthors/",
        internal_views.proposal_coauthor_add_view,
        name="proposal-coauthor-add",
    ),
    path(
        "orgs/<slug:slug>/proposals/<uuid:proposal_id>/coauthorship/",
        internal_views.proposal_coauthor_answer_view,
        name="proposal-coauthor-answer",
    ),
    path(
        "orgs/<slug:slug>/proposals/<uuid:proposal_id>/revise/",
        internal_views.proposal_revise_view,
        name="proposal-revise",
    ),
    path(
        "orgs/<slug:slug>/proposals/<uuid:proposal_id>/withdraw/",
        internal_views.proposal_withdraw_view,
        name="proposal-withdraw",
    ),
    path(
        "orgs/<slug:slug>/proposals/<uuid:proposal_id>/decline/",
        internal_views.proposal_decline_view,
        name="proposal-decline",
    ),
]
