from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from intents.models import Intent
from intents.selectors import intents_matching_text
from marketplace.codes import validate_country, validate_currency
from marketplace.models import Category
from marketplace.selectors import category_ids_with_descendants


class IntentFilter(django_filters.FilterSet):
    """Filters for the vendor's intent list. ``status`` defaults to ``open``."""

    category = django_filters.CharFilter(
        method="filter_category", help_text="A category slug; includes its subcategories."
    )
    q = django_filters.CharFilter(method="filter_text", help_text="Words in title or description.")
    currency = django_filters.CharFilter(
        field_name="currency", validators=[validate_currency], help_text="An ISO 4217 code."
    )
    # An intent whose buyer hid the budget never matches a budget filter: that
    # it did, for one amount and not the next, would tell the budget.
    budget_min = django_filters.NumberFilter(
        method="filter_budget_min",
        help_text="Budget reaches at least this amount, in each intent's own currency (shown"
        " budgets only): give `currency` too to compare like with like.",
    )
    budget_max = django_filters.NumberFilter(
        method="filter_budget_max",
        help_text="Budget starts at most at this amount, in each intent's own currency (shown"
        " budgets only): give `currency` too to compare like with like.",
    )
    country = django_filters.CharFilter(
        field_name="country", validators=[validate_country], help_text="An ISO 3166 code."
    )
    closes_before = django_filters.IsoDateTimeFilter(
        method="filter_closes_before", help_text="Offers close before this time (ISO 8601)."
    )
    status = django_filters.ChoiceFilter(
        choices=[
            (value, label) for value, label in Intent.Status.choices if value != Intent.Status.DRAFT
        ]
    )

    class Meta:
        model = Intent
        fields = ["category", "q", "currency", "budget_min", "budget_max", "country", "status"]

    def filter_category(
        self, queryset: QuerySet[Intent], name: str, value: str
    ) -> QuerySet[Intent]:
        root = list(Category.objects.filter(slug=value).values_list("id", flat=True))
        if not root:
            raise ValidationError(
                {"category": [f"No category “{value}”: GET categories/ lists them."]}
            )
        return queryset.filter(category_id__in=category_ids_with_descendants(root))

    @extend_schema_field(OpenApiTypes.DATETIME)
    def filter_closes_before(
        self, queryset: QuerySet[Intent], name: str, value: datetime
    ) -> QuerySet[Intent]:
        # Python takes UTC offsets up to ±23:59, PostgreSQL only up to ±15:59
        # (a 500 before): compare in UTC.
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValidationError({"closes_before": ["Out of range."]}) from None
        return queryset.filter(offers_close_at__lt=value)

    def filter_budget_min(
        self, queryset: QuerySet[Intent], name: str, value: Decimal
    ) -> QuerySet[Intent]:
        # A budget with no maximum reaches any amount above its minimum.
        reaches = Q(budget_max__gte=value) | Q(budget_max__isnull=True, budget_min__isnull=False)
        return queryset.filter(reaches, is_budget_hidden=False)

    def filter_budget_max(
        self, queryset: QuerySet[Intent], name: str, value: Decimal
    ) -> QuerySet[Intent]:
        # A budget with no minimum starts below any amount under its maximum.
        starts = Q(budget_min__lte=value) | Q(budget_min__isnull=True, budget_max__isnull=False)
        return queryset.filter(starts, is_budget_hidden=False)

    def filter_text(self, queryset: QuerySet[Intent], name: str, value: str) -> QuerySet[Intent]:
        return intents_matching_text(queryset, value)

    @property
    def qs(self) -> QuerySet[Intent]:
        queryset = super().qs
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=Intent.Status.OPEN)
        return queryset
