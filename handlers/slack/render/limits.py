"""Checks a Block Kit payload against Slack's documented limits.

slack_sdk's models validate each block's shape (`validate_json`) but not the per-message block count
or text lengths the API enforces; this adds those. Used by the demo and the tests.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = {"message": 50, "home": 100, "modal": 100}


def problems(payload: dict[str, Any], surface: str = "message") -> list[str]:
    """Every limit `payload` (a message, or a view with `blocks`) breaks; empty when it is fine."""
    found: list[str] = []
    blocks = payload.get("blocks") or []
    if surface == "message" and not payload.get("text"):
        found.append("a message needs top-level text (notifications and screen readers use it)")
    if len(blocks) > MAX_BLOCKS[surface]:
        found.append(f"{len(blocks)} blocks; a {surface} allows {MAX_BLOCKS[surface]}")
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type')})"
        found += [f"{where}: {p}" for p in _block_problems(block)]
        try:
            parsed = Block.parse(block)
            if parsed is not None:
                parsed.validate_json()
        except SlackObjectFormationError as error:
            found.append(f"{where}: {error}")
    return found


def _block_problems(block: dict[str, Any]) -> list[str]:
    found = []
    kind = block.get("type")
    text = (block.get("text") or {}).get("text", "")
    if kind == "section":
        if len(text) > 3000:
            found.append(f"section text is {len(text)} characters; the limit is 3,000")
        fields = block.get("fields") or []
        if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
            found.append("at most 10 fields of 2,000 characters each")
    if kind == "header" and len(text) > 150:
        found.append(f"header text is {len(text)} characters; the limit is 150")
    if kind == "context" and len(block.get("elements") or []) > 10:
        found.append("a context block holds at most 10 elements")
    if kind == "actions" and len(block.get("elements") or []) > 25:
        found.append("an actions block holds at most 25 elements")
    for key in ("block_id",):
        if len(str(block.get(key, ""))) > 255:
            found.append(f"{key} is longer than 255 characters")
    return found
