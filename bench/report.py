"""The one table the bench prints: bar, measured, baseline, ratio, verdict."""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("bar", "measured", "baseline", "ratio", "verdict")


@dataclass(frozen=True)
class Row:
    bar: str
    measured: str
    baseline: str
    ratio: str
    passed: bool | None  # None: not measured in this run (and why is in ``measured``)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]


def ratio(measured: float, baseline: float, unit: str = "x") -> str:
    if not baseline:
        return "—"
    if unit == "%":
        return f"{100 * measured / baseline:.0f}%"
    return f"{measured / baseline:.2f}{unit}"


def skipped(bar: str, reason: str) -> Row:
    return Row(bar, reason, "—", "—", None)


def render(rows: list[Row]) -> str:
    """A Markdown table, aligned so it also reads well in a terminal."""
    cells = [
        HEADER,
        *((row.bar, row.measured, row.baseline, row.ratio, row.verdict) for row in rows),
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(HEADER))]

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(values) for values in cells[1:])])
