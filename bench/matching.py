"""Bar: matching one intent against all vendors vs one hand-written SQL query (DESIGN §9).

The baseline does everything ``match_candidates`` decides in a single
statement: the category tree walk (recursive CTE), the intent's lexemes, every
filter, the ranking and the limit. Like matching, it finds the vendors that
fit the category tree *and* the place through the GIN index on
``Vendor.match_keys`` (before that index, it drove from the vendors serving
the categories, the fastest formulation then). The bench checks that both
return the same vendors before it compares their times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from bench.report import Row, ratio
from intents.matching import compared_budget, match_candidates
from intents.models import Intent
from marketplace.codes import WORLDWIDE

LIMIT = 25
BAR_MS = 25.0
BAR_RATIO = 2.0

# The same rules and order as intents.matching, for a public intent, in one statement.
# The intent's own fields come in as parameters; the category tree walk and the
# intent's lexemes are computed by the query itself.
SQL = """
WITH RECURSIVE above (id, parent_id) AS (
    SELECT id, parent_id FROM marketplace_category WHERE id = %(category)s
    UNION
    SELECT c.id, c.parent_id FROM marketplace_category c JOIN above ON c.id = above.parent_id
), below (id) AS (
    SELECT %(category)s::bigint
    UNION
    SELECT c.id FROM marketplace_category c JOIN below ON c.parent_id = below.id
)
SELECT v.id
FROM marketplace_vendor v
WHERE v.match_keys ?| ARRAY(
        SELECT related.id || ':' || code
        FROM (SELECT id FROM above UNION SELECT id FROM below) AS related,
             unnest(%(coverage)s::text[]) AS code)
  AND NOT v.is_paused AND NOT v.is_suspended
  AND (v.notices_day IS NULL OR v.notices_day < CURRENT_DATE
       OR v.notices_today < v.daily_capacity)
  AND (v.keyword_lexemes = '[]'::jsonb
       OR v.keyword_lexemes ?| tsvector_to_array(to_tsvector('english'::regconfig, %(text)s)))
  AND v.id NOT IN (SELECT vendor_id FROM marketplace_vendorblock WHERE buyer_id = %(buyer)s)
  AND v.id NOT IN (SELECT vendor_id FROM intents_intent_blocked_vendors WHERE intent_id = %(intent)s)
  AND v.id NOT IN (SELECT vendor_id FROM intents_notice WHERE intent_id = %(intent)s)
  AND NOT COALESCE(v.deal_size_currency = %(currency)s AND v.deal_size_max < %(budget_min)s, false)
  AND NOT COALESCE(v.deal_size_currency = %(currency)s AND v.deal_size_min > %(budget_max)s, false)
ORDER BY (SELECT count(*) FROM jsonb_array_elements_text(v.keyword_lexemes) AS k
          WHERE k = ANY(tsvector_to_array(to_tsvector('english'::regconfig, %(text)s)))) DESC,
         v.rating_mean DESC NULLS LAST, v.last_seen_at DESC NULLS LAST, v.id
LIMIT %(limit)s
"""


def sample_intents(count: int) -> list[Intent]:
    """Open public intents spread over the table (every n-th by id: stable across runs)."""
    open_intents = Intent.objects.filter(
        status=Intent.Status.OPEN, visibility=Intent.Visibility.PUBLIC, is_hidden=False
    ).order_by("id")
    total = open_intents.count()
    step = max(1, total // count)
    return list(open_intents.select_related("category")[: step * count : step])


def hand_written(intent: Intent) -> list[Any]:
    parameters = {
        "intent": intent.pk,
        "category": intent.category_id,
        "text": f"{intent.title}\n{intent.description}",
        "coverage": [WORLDWIDE, intent.country] if intent.country else [WORLDWIDE],
        "buyer": intent.buyer_id,
        "currency": intent.currency,
        "limit": LIMIT,
    }
    # The budget the deal-size rule compares (none when hidden): the same rule as matching's.
    parameters["budget_min"], parameters["budget_max"] = compared_budget(intent)
    with connection.cursor() as cursor:
        cursor.execute(SQL, parameters)
        return [row[0] for row in cursor.fetchall()]


def measure(intents: list[Intent], say: Callable[[str], None]) -> list[Row]:
    for intent in intents:  # warm caches and plans for both sides
        match_candidates(intent, limit=LIMIT)
        hand_written(intent)
    orm_ms, sql_ms, mismatched, found = [], [], [], []
    for intent in intents:
        started = time.perf_counter()
        candidates = match_candidates(intent, limit=LIMIT)
        orm_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        expected = hand_written(intent)
        sql_ms.append(1000 * (time.perf_counter() - started))
        found.append(len(expected))
        if {candidate.vendor_id for candidate in candidates} != set(expected):
            mismatched.append(str(intent.pk))
    orm, sql = statistics.median(orm_ms), statistics.median(sql_ms)
    if mismatched:
        say(f"  FAILURE: matching and the SQL baseline differ for {len(mismatched)} intents:")
        for intent_id in mismatched[:5]:
            say(f"    {intent_id}")
    return [
        Row(
            f"matching, median of {len(intents)} intents (≤ {BAR_MS:.0f} ms, ≤ {BAR_RATIO:.0f}x SQL)",
            f"{orm:.1f} ms",
            f"{sql:.1f} ms (1 SQL query)",
            ratio(orm, sql),
            orm <= BAR_MS and orm <= BAR_RATIO * sql,
        ),
        Row(
            "matching returns the SQL query's vendor set",
            f"{len(intents) - len(mismatched)}/{len(intents)} intents equal",
            f"{statistics.mean(found):.1f} vendors/intent",
            "—",
            not mismatched,
        ),
    ]
