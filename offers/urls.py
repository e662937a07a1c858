from django.urls import path

from offers import views

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
]
