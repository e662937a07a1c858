"""Per-intent pseudonyms: what vendors call a buyer until the buyer reveals themselves."""

from __future__ import annotations

import secrets

ADJECTIVES = (
    "Amber", "Azure", "Brisk", "Calm", "Cedar", "Coral", "Crisp", "Dusky", "Ember", "Fern",
    "Gentle", "Golden", "Hazel", "Indigo", "Ivory", "Jade", "Keen", "Lively", "Lunar", "Maple",
    "Mellow", "Misty", "Noble", "Olive", "Opal", "Quiet", "Rapid", "Russet", "Sage", "Silver",
    "Steady", "Sunny", "Swift", "Teal", "Topaz", "Velvet", "Vivid", "Willow", "Witty", "Zesty",
)  # fmt: skip
ANIMALS = (
    "Badger", "Bison", "Crane", "Dolphin", "Falcon", "Finch", "Fox", "Gecko", "Heron", "Ibis",
    "Jaguar", "Koala", "Lark", "Lynx", "Marten", "Newt", "Ocelot", "Otter", "Owl", "Panda",
    "Puffin", "Quail", "Raven", "Robin", "Salmon", "Seal", "Stork", "Swan", "Tapir", "Tern",
    "Thrush", "Toucan", "Walrus", "Wren", "Yak", "Zebra",
)  # fmt: skip


def new_pseudonym() -> str:
    """A readable name that says nothing about the person, e.g. "Amber Heron 417".

    It is drawn afresh for each intent, so two intents of one buyer cannot be
    linked through it.
    """
    return f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(900) + 100}"
