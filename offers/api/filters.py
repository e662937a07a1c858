import django_filters

from offers.models import Offer


class OfferFilter(django_filters.FilterSet):
    intent = django_filters.UUIDFilter(field_name="intent_id")
    status = django_filters.ChoiceFilter(choices=Offer.Status.choices)

    class Meta:
        model = Offer
        fields = ["intent", "status"]
