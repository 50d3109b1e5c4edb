"""YAML loading that remembers where every value came from.

Operators edit YAML by hand; an error that says "devices.3.interval" is far less useful
than "site.yaml line 14, devices[3].interval". This module loads YAML while recording
the line of every mapping key and sequence item, and turns pydantic validation errors
into messages that name the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Loc = tuple[str | int, ...]


class ConfigError(ValueError):
    """A configuration or profile file is invalid. The message names file, line and field."""

    def __init__(self, path: str | Path, problems: Iterable[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that stores node start lines in a side table keyed by location."""


def _compose_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _compose_lines(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _compose_lines(item, (*loc, i), lines)


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file; return (data, {location: line}). Syntax errors become ConfigError."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(path, [f"cannot read file: {exc.strerror or exc}"]) from exc
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}invalid YAML: {problem}"]) from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        _compose_lines(node, (), lines)
    return data, lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """Line of the deepest known prefix of loc (pydantic locs may go deeper than the YAML)."""
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            return line
    return None


def field_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def describe_errors(
    err: ValidationError, lines: dict[Loc, int], loc_prefix: Loc = (), display_prefix: Loc = ()
) -> list[str]:
    """Turn a pydantic error into one message per problem: 'line N, field: message'.

    loc_prefix is where the validated object sits inside the YAML document (for line
    lookup); display_prefix is how the field path should start in the message.
    """
    problems = []
    for e in err.errors(include_url=False):
        # pydantic inserts union tags and validator names into loc; drop non-YAML parts.
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = line_of(lines, (*loc_prefix, *loc))
        where = f"line {line}, " if line else ""
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"{where}{field_path((*display_prefix, *loc))}: {msg}")
    return problems
