from django.urls import path

from intents import views

app_name = "intents"

urlpatterns = [
    path("", views.my_intents, name="mine"),
    path("new/", views.intent_new, name="new"),
    path("<uuid:intent_id>/edit/", views.intent_edit, name="edit"),
    path("<uuid:intent_id>/publish/", views.intent_publish_view, name="publish"),
    path("<uuid:intent_id>/delete/", views.intent_delete_draft_view, name="delete-draft"),
]
