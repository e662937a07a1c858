"""How the site writes dates in English: one way everywhere ("10 Dec 2026"), and times
with their zone, which is UTC (the deadline fields say so)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
