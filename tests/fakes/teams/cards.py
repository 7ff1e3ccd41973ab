"""Adaptive Cards as Teams receives them, checked against Microsoft's official 1.5 schema.

The schema (vendored under `schemas/`, see its README) has no room for two Teams extensions the
renderer uses: the card's `msteams` property and a ChoiceSet's `choices.data` (the people picker). Those
are taken out of a copy of the card, which must then pass the official schema untouched, and are
checked on their own against `TEAMS_EXTENSIONS` below, written from Teams' documentation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator, Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

SCHEMA = Path(__file__).parent / "schemas" / "adaptive-card-1.5.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

TEAMS_EXTENSIONS: dict[str, Any] = {
    "msteams": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "width": {"enum": ["full"]},
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "text", "mentioned"],
                    "properties": {
                        "type": {"const": "mention"},
                        "text": {"type": "string", "pattern": "^<at>.*</at>$"},
                        "mentioned": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["id", "name"],
                            "properties": {"id": {"type": "string", "minLength": 1}, "name": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
    "choices.data": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "dataset"],
        "properties": {"type": {"const": "Data.Query"}, "dataset": {"const": "graph.microsoft.com/users"}},
    },
}


@cache
def _validator() -> Draft6Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema, format_checker=Draft6Validator.FORMAT_CHECKER)


def walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def card_problems(card: Mapping[str, Any]) -> list[str]:
    """Everything wrong with `card` against the official 1.5 schema and Teams' extensions; empty when valid."""
    found: list[str] = []
    official = copy.deepcopy(dict(card))
    extensions = {"msteams": official.pop("msteams", None)}
    for item in walk(official):
        if "choices.data" in item:
            data = item.pop("choices.data")
            problems = Draft202012Validator(TEAMS_EXTENSIONS["choices.data"]).iter_errors(data)
            found += [f"choices.data: {e.message}" for e in problems]
    if extensions["msteams"] is not None:
        problems = Draft202012Validator(TEAMS_EXTENSIONS["msteams"]).iter_errors(extensions["msteams"])
        found += [f"msteams/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems]
    for error in _validator().iter_errors(official):
        for cause in _causes(error):
            found.append(f"{'/'.join(map(str, cause.absolute_path)) or '(card)'}: {cause.message[:300]}")
    return sorted(set(found))


def _causes(error: ValidationError) -> list[ValidationError]:
    """The specific failures under an `anyOf` (the schema wraps the card and every element in one): the
    errors of the alternative whose `type` matched (a TextBlock's, for a TextBlock), not "is not valid
    under any of the given schemas" about the whole card."""
    if not error.context:
        return [error]
    alternatives: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        alternatives.setdefault(sub.relative_schema_path[0], []).append(sub)

    def wrong_type(sub: ValidationError) -> bool:
        return sub.validator == "enum" and list(sub.relative_path)[-1:] == ["type"]

    matching = [subs for subs in alternatives.values() if not any(wrong_type(sub) for sub in subs)]
    chosen = [sub for subs in matching for sub in subs] if matching else [best_match(error.context)]
    return [cause for sub in chosen if sub is not None for cause in _causes(sub)]


def cards(activity: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Adaptive Cards an activity carries."""
    return [a["content"] for a in activity.get("attachments", []) if a.get("contentType") == CARD_CONTENT_TYPE]


def activity_problems(activity: Mapping[str, Any]) -> list[str]:
    """A message activity with exactly one valid card."""
    found = [] if activity.get("type") == "message" else [f"type is {activity.get('type')!r}, not 'message'"]
    attached = cards(activity)
    if len(attached) != 1:
        found.append(f"{len(attached)} Adaptive Cards attached; one expected")
    for card in attached:
        found += card_problems(card)
    return found
