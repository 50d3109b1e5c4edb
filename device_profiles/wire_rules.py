"""The wire's rules for the names and units a profile puts on every reading.

One source for both sides: ``edge.model`` builds its wire types (``Name``, a point's
``unit``) from these constants, and the profile schema checks point names and units with
them at load, so a profile the API would refuse is refused by ``steward-edge check``
instead of quarantining every record of its devices. It lives here, not in ``edge``,
because ``device_profiles`` must not import the edge (edge imports device_profiles).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

NAME_PATTERN = r"^[A-Za-z0-9_.:\-/]+$"
NAME_MAX_LENGTH = 128
# What an event or alarm is about may be a person's credential, and a vehicle gate's
# credential is a plate: Chinese plates start with a province character (苏E99999).
# Letters and digits of any script then, still no spaces, control or bidi characters.
SOURCE_PATTERN = r"^[\w.:\-/]+$"
UNIT_MAX_LENGTH = 32

# Text that ends up in logs and dashboards: no control characters (C0, DEL, C1) and no
# Unicode bidi embeddings, overrides or isolates (see edge/model.py, which uses it for
# units, tags and text values).
UNPRINTABLE_CLASS = r"\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069"
PLAIN_TEXT = rf"^[^{UNPRINTABLE_CLASS}]*$"
# What a decoded string register shows as U+FFFD, so that it stays plain text.
UNPRINTABLE = re.compile(rf"[{UNPRINTABLE_CLASS}]")

NAME_RULE = f"the wire accepts 1-{NAME_MAX_LENGTH} characters of A-Z a-z 0-9 _ . : - /"
UNIT_RULE = (
    f"the wire accepts units of at most {UNIT_MAX_LENGTH} characters, without control or "
    "bidi characters"
)

_NAME = re.compile(NAME_PATTERN)
_PLAIN = re.compile(PLAIN_TEXT)


def name_problem(name: str) -> str | None:
    """Why the wire would refuse ``name`` as a point, device or source name (None: fine)."""
    if not 1 <= len(name) <= NAME_MAX_LENGTH or not _NAME.match(name):
        return f"name {name!r} is refused by the API: {NAME_RULE}"
    return None


def unit_problem(unit: str) -> str | None:
    """Why the wire would refuse ``unit`` (None: fine)."""
    if len(unit) > UNIT_MAX_LENGTH:
        return f"unit {unit!r} has {len(unit)} characters: {UNIT_RULE}"
    if not _PLAIN.match(unit):
        return f"unit {unit!r} holds a control or bidi character: {UNIT_RULE}"
    return None


# The one access-event vocabulary (domain-facts §D.2, aligned with ONVIF and BACnet access
# events): what payload maps may produce and what the door and patrol rules read.
AccessKind = Literal[
    "access.granted",
    "access.denied",
    "door.opened",
    "door.closed",
    "door.tamper",
    "access.duress",
    "exit.request",
    "patrol.scan",
]
ACCESS_KINDS: tuple[str, ...] = get_args(AccessKind)
