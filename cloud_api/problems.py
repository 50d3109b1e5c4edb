"""Turn pydantic's validation errors into messages that name the field, as a user writes it.

    ('readings', 'records', 3, 'points', 0, 'value', 'float') + 'Input should be a valid number'
    ('readings', 'records', 3, 'points', 0, 'value', 'str')   + 'Input should be a valid string'
becomes
    records[3].points[0].value: Input should be a valid number or a valid string
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from edge.model import LANES, PLAIN_LINES, PLAIN_TEXT

MAX_LISTED = 20  # problems listed in a response; a broken batch can have thousands
MAX_IN_DETAIL = 3  # problems spelled out in the one-line detail
_INPUT_CHARS = 80

# Names pydantic gives the members of a union such as `float | str` in an error's location.
_UNION_MEMBERS = {
    "float",
    "str",
    "int",
    "bool",
    "bytes",
    "none",
    "list",
    "dict",
    "constrained-str",
    "constrained-float",
    "constrained-int",
}
# Error types that only say "not this member of the union" (the input is of another type).
_WRONG_TYPE = re.compile(r"_type$|_parsing$|^none_required$|^is_instance_of$")
_UNESCAPED = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The characters the wire's text patterns refuse, to say which one and where.
_REFUSED_CHARACTER = {
    PLAIN_TEXT: re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"),
    PLAIN_LINES: re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    loc: tuple[str | int, ...]
    message: str
    type: str
    input: str | None = None

    @property
    def path(self) -> str:
        return path_of(self.loc)

    def line(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict:
        # loc/msg/type as in FastAPI's own 422 answers, so generic clients understand it
        out = {"loc": list(self.loc), "msg": self.message, "type": self.type, "path": self.path}
        if self.input is not None:
            out["input"] = self.input
        return out


def malformed_json(error: ValidationError) -> str | None:
    """The parser's complaint with its position, when the body is not JSON at all."""
    for e in error.errors(include_url=False):
        if e["type"] == "json_invalid":
            message = e["msg"].removeprefix("Invalid JSON: ")
            return f"malformed JSON: {message}"
    return None


def path_of(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # pydantic's mark for an error in a dict's key
            out += " (the key)"
        elif _NAME_PART.match(part):
            out += f".{part}" if out else part
        else:
            # A key from the input (a tag name): quoted and ASCII-escaped, so that no
            # control or bidi character of it reaches a message or a log line.
            out += f"[{json.dumps(part)}]"
    return out or "batch"


def _refused_text(error: dict) -> str | None:
    """A clear message for text the wire's PLAIN_TEXT / PLAIN_LINES patterns refused."""
    if error["type"] != "string_pattern_mismatch":
        return None
    found = _REFUSED_CHARACTER.get(error.get("ctx", {}).get("pattern"))
    given = error.get("input")
    if found is None or not isinstance(given, str):
        return None
    where = found.search(given)
    at = f"; found U+{ord(where.group()):04X} at index {where.start()}" if where else ""
    allowed = " other than tab and line breaks" if found is _REFUSED_CHARACTER[PLAIN_LINES] else ""
    return f"must not contain control characters{allowed} or Unicode bidi controls{at}"


def _short(value: object) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    text = text if len(text) <= _INPUT_CHARS else text[: _INPUT_CHARS - 1] + "…"
    # orjson escapes C0 controls; escape C1 and bidi controls too, as JSON would
    return _UNESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _without_lane(loc: tuple) -> tuple:
    # The discriminated union's tag ("readings" / "events") leads every location.
    return loc[1:] if loc and loc[0] in LANES else loc


def problems(error: ValidationError) -> list[Problem]:
    raw = error.errors(include_url=False)
    # Errors about one member each of a union (`float | str`), grouped by the field.
    union_members: dict[tuple, list[dict]] = {}
    for e in raw:
        loc = tuple(e["loc"])
        if loc and loc[-1] in _UNION_MEMBERS:
            union_members.setdefault(loc[:-1], []).append(e)

    out: list[Problem] = []
    reported_unions: set[tuple] = set()
    for e in raw:
        loc = tuple(e["loc"])
        kind = e["type"]
        message = e["msg"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            expected = " or ".join(repr(lane) for lane in LANES)
            got = e.get("ctx", {}).get("tag")
            message = f"must be {expected}" + (f", got {got!r}" if got else " (missing)")
            out.append(Problem(("lane",), message, kind))
            continue
        members = union_members.get(loc[:-1], []) if loc and loc[-1] in _UNION_MEMBERS else []
        if len(members) > 1:
            field = loc[:-1]
            if field in reported_unions:
                continue
            reported_unions.add(field)
            # The input had the type of one member and broke its bounds: say only that.
            fitting = [m for m in members if not _WRONG_TYPE.search(m["type"])]
            if len(fitting) == 1:
                e = fitting[0]
                kind = e["type"]
                message = _refused_text(e) or e["msg"]
            else:
                kind = "union"
                message = _join_alternatives([m["msg"] for m in members])
            out.append(Problem(_without_lane(field), message, kind, _short(e.get("input"))))
            continue
        loc = _without_lane(loc)
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
            # "value must be …", raised by a model validator, is about the field `value`.
            first, _, rest = message.partition(" ")
            given = e.get("input")
            if rest and isinstance(given, dict) and first in given:
                loc = (*loc, first)
                message = rest
            out.append(Problem(loc, message, kind))
            continue
        message = _refused_text(e) or message
        out.append(Problem(loc, message, kind, _short(e.get("input"))))
    return out


def _join_alternatives(messages: list[str]) -> str:
    # "Input should be a valid number" + "Input should be a valid string"
    # -> "Input should be a valid number or a valid string"
    head = "Input should be "
    if all(m.startswith(head) for m in messages):
        return head + " or ".join(m.removeprefix(head) for m in messages)
    return " or ".join(messages)


def summary(found: list[Problem]) -> str:
    lines = [p.line() for p in found[:MAX_IN_DETAIL]]
    if len(found) == 1:
        return lines[0]
    more = f"; and {len(found) - MAX_IN_DETAIL} more" if len(found) > MAX_IN_DETAIL else ""
    return f"{len(found)} problems in the batch: " + "; ".join(lines) + more


def validation_body(found: list[Problem]) -> dict:
    """The 422 answer: `message` for people, `detail` as FastAPI lists errors, for tools."""
    return {
        "message": summary(found),
        "error_count": len(found),
        "detail": [p.as_dict() for p in found[:MAX_LISTED]],
    }


def request_problems(errors: Sequence[dict]) -> dict:
    """The 422 answer for FastAPI's own checks of path and query parameters: its `detail`
    list as usual, plus a `message` naming each parameter ("series_id: Input should be
    less than or equal to 9223372036854775807")."""
    found = [
        Problem(tuple(e["loc"][1:]) or tuple(e["loc"]), _refused_text(e) or e["msg"], e["type"])
        for e in errors
    ]
    return {
        "message": summary(found).replace("problems in the batch", "problems in the request"),
        "error_count": len(found),
        "detail": [
            {**p.as_dict(), "loc": list(e["loc"])} for p, e in zip(found, errors, strict=True)
        ][:MAX_LISTED],
    }
