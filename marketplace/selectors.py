"""Reads for the parties."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import QuerySet

from marketplace.models import (
    ApiKey,
    Category,
    User,
    Vendor,
    WebhookDelivery,
    WebhookEndpoint,
)


class CategoryNode(NamedTuple):
    parent_id: int | None
    slug: str


def category_tree() -> dict[int, CategoryNode]:
    """Every category's parent and slug, by id, in one query."""
    return {
        category_id: CategoryNode(parent_id, slug)
        for category_id, parent_id, slug in Category.objects.values_list("id", "parent_id", "slug")
    }


def category_ids_with_descendants(
    category_ids: Iterable[int], tree: dict[int, CategoryNode] | None = None
) -> set[int]:
    """The given categories and every category below them (``tree``: category_tree(), if read)."""
    children: dict[int | None, list[int]] = {}
    for child, node in (category_tree() if tree is None else tree).items():
        children.setdefault(node.parent_id, []).append(child)
    found: set[int] = set()
    stack = list(category_ids)
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found


def categories_in_tree_order() -> list[tuple[Category, int]]:
    """Every category with its depth, parents before their children (by name, then id),
    its parent read with it: one query."""
    categories = list(Category.objects.select_related("parent"))
    children: dict[int | None, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    ordered: list[tuple[Category, int]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for category in sorted(children.get(parent_id, []), key=lambda c: (c.name, c.pk)):
            ordered.append((category, depth))
            walk(category.id, depth + 1)

    walk(None, 0)
    return ordered


def api_keys_of_vendor(vendor: Vendor) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(vendor=vendor).order_by("-created_at")


def webhook_endpoints_of_vendor(vendor: Vendor) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(vendor=vendor).order_by("created_at")


def deliveries_of_endpoint(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The delivery log, newest first, with each delivery's attempts."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("log")
        .order_by("-created_at")
    )


def vendor_mail_recipients(vendor: Vendor) -> list[str]:
    """Who hears by e-mail for a vendor: its contact address and its active staff."""
    staff = User.objects.filter(vendor=vendor, is_active=True).values_list("email", flat=True)
    return sorted({vendor.contact_email, *staff} - {""})
