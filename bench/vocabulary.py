"""What the generated marketplace is made of: a category tree with words, places, money."""

from __future__ import annotations

# slug → (name, parent slug or None, keywords). Roots have no keywords of their
# own: a vendor serving a root draws its keywords from the root's children.
CATEGORIES: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "home-services": ("Home services", None, ()),
    "plumbing": ("Plumbing", "home-services", ("tap", "pipe", "drain", "leak", "toilet", "sink")),
    "heating": ("Heating", "plumbing", ("boiler", "radiator", "heat pump", "underfloor heating")),
    "bathrooms": ("Bathrooms", "plumbing", ("bathroom", "shower", "bathtub", "tiling")),
    "electrical": ("Electrical", "home-services", ("wiring", "socket", "fuse", "lighting", "wallbox")),
    "painting": ("Painting", "home-services", ("paint", "wallpaper", "plaster", "facade", "varnish")),
    "cleaning": ("Cleaning", "home-services", ("cleaning", "window", "carpet", "deep clean")),
    "gardening": ("Gardening", "home-services", ("garden", "lawn", "hedge", "tree", "landscaping")),
    "roofing": ("Roofing", "home-services", ("roof", "gutter", "chimney", "skylight")),
    "it-services": ("IT services", None, ()),
    "web-development": ("Web development", "it-services", ("website", "wordpress", "ecommerce", "django", "landing page")),
    "app-development": ("App development", "it-services", ("app", "ios", "android", "mobile")),
    "it-support": ("IT support", "it-services", ("laptop", "network", "printer", "backup", "server")),
    "data-recovery": ("Data recovery", "it-services", ("recovery", "disk", "ssd", "raid")),
    "security-audits": ("Security audits", "it-services", ("penetration test", "audit", "firewall")),
    "cloud-hosting": ("Cloud hosting", "it-services", ("hosting", "cloud", "kubernetes", "migration")),
    "events": ("Events", None, ()),
    "catering": ("Catering", "events", ("catering", "buffet", "vegan", "dinner", "wedding cake")),
    "photography": ("Photography", "events", ("photographer", "portrait", "wedding photos", "drone")),
    "venues": ("Venues", "events", ("venue", "hall", "conference room", "garden party")),
    "music": ("Music", "events", ("band", "dj", "string quartet", "sound system")),
    "event-planning": ("Event planning", "events", ("planner", "decoration", "florist")),
    "moving": ("Moving and transport", None, ()),
    "removals": ("Removals", "moving", ("removal", "moving", "piano", "packing")),
    "courier": ("Courier", "moving", ("courier", "parcel", "same-day delivery", "pallet")),
    "storage": ("Storage", "moving", ("storage", "container", "warehouse")),
    "vehicle-transport": ("Vehicle transport", "moving", ("car transport", "motorbike", "trailer")),
    "business-services": ("Business services", None, ()),
    "accounting": ("Accounting", "business-services", ("bookkeeping", "tax return", "payroll", "annual accounts")),
    "legal": ("Legal", "business-services", ("contract", "lawyer", "trademark", "gdpr")),
    "translation": ("Translation", "business-services", ("translation", "german", "french", "interpreter")),
    "marketing": ("Marketing", "business-services", ("seo", "social media", "campaign", "branding")),
    "recruiting": ("Recruiting", "business-services", ("recruiter", "hiring", "headhunter")),
    "creative": ("Creative", None, ()),
    "graphic-design": ("Graphic design", "creative", ("logo", "brochure", "poster", "packaging")),
    "video-production": ("Video production", "creative", ("video", "animation", "editing")),
    "copywriting": ("Copywriting", "creative", ("copy", "blog", "newsletter")),
    "illustration": ("Illustration", "creative", ("illustration", "comic", "children's book")),
    "education": ("Education", None, ()),
    "tutoring": ("Tutoring", "education", ("maths tutor", "physics", "homework", "exam")),
    "language-lessons": ("Language lessons", "education", ("spanish lessons", "english course", "conversation")),
    "music-lessons": ("Music lessons", "education", ("piano lessons", "guitar", "singing")),
    "driving-lessons": ("Driving lessons", "education", ("driving lessons", "driving test")),
    "health-wellness": ("Health and wellness", None, ()),
    "fitness": ("Fitness", "health-wellness", ("personal trainer", "yoga", "pilates")),
    "therapy": ("Therapy", "health-wellness", ("physiotherapy", "massage", "osteopath")),
    "nutrition": ("Nutrition", "health-wellness", ("dietitian", "meal plan")),
    "automotive": ("Automotive", None, ()),
    "car-repair": ("Car repair", "automotive", ("brakes", "tyres", "engine", "gearbox", "inspection")),
    "bodywork": ("Bodywork", "automotive", ("dent", "scratch", "respray")),
    "detailing": ("Detailing", "automotive", ("car wash", "polish", "interior cleaning")),
}  # fmt: skip

# Country → (weight, currency). Weights roughly follow where demand would be.
COUNTRIES: dict[str, tuple[int, str]] = {
    "DE": (20, "EUR"),
    "FR": (12, "EUR"),
    "GB": (12, "GBP"),
    "US": (14, "USD"),
    "NL": (6, "EUR"),
    "ES": (6, "EUR"),
    "IT": (6, "EUR"),
    "PL": (4, "PLN"),
    "AT": (3, "EUR"),
    "CH": (3, "CHF"),
    "BE": (3, "EUR"),
    "SE": (2, "SEK"),
    "DK": (2, "DKK"),
    "IE": (2, "EUR"),
    "PT": (2, "EUR"),
    "CZ": (1, "CZK"),
    "CA": (1, "CAD"),
    "NO": (1, "NOK"),
}
# ISO 3166-2 subdivisions some vendors name instead of the whole country.
SUBDIVISIONS: dict[str, tuple[str, ...]] = {
    "DE": ("DE-BY", "DE-BE", "DE-HH", "DE-NW"),
    "US": ("US-CA", "US-NY", "US-TX"),
    "AT": ("AT-9",),
    "CH": ("CH-ZH",),
    "ES": ("ES-MD",),
}

OPENINGS = ("Need", "Looking for", "Quote for", "Help with", "Wanted:", "Seeking")
CONTEXTS = (
    "in a small flat",
    "for our office of 12 people",
    "before the end of the month",
    "for a family home",
    "for a start-up",
    "at short notice",
    "for a listed building",
    "on a fixed budget",
    "for a charity",
    "for a weekend",
)
FILLER = (
    "Quality matters more than speed.",
    "Please include materials and travel in the price.",
    "References from similar jobs are welcome.",
    "We are flexible on dates.",
    "Invoice to a company, VAT registered.",
    "Parking is available on site.",
)
UNITS = ("", "", "", "hours", "days", "pieces", "m²", "guests")
