"""Golden tests: every message the bot sends, rendered again and compared byte for byte with the JSON
that `main`'s code produced before messages became platform-neutral.

The files under tests/golden/ are the reference; a change to any of them is a change to what people
see in Slack and must be deliberate. `EMPATHY_UPDATE_GOLDENS=1 pytest tests/unit/handlers/slack/render/test_golden.py` writes
them again from the code as it is (review the diff before committing it).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.support.golden_cases import CASES
from tests.support.paths import TESTS

GOLDEN = TESTS / "golden"
UPDATE = os.environ.get("EMPATHY_UPDATE_GOLDENS") == "1"


def dumps(payload: Any) -> str:
    """The one serialisation the files use: key order and spacing can't hide or fake a difference."""
    return json.dumps(payload, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def check(name: str, payload: Any) -> None:
    path = GOLDEN / f"{name}.json"
    rendered = dumps(payload)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no golden file for {name}: run with EMPATHY_UPDATE_GOLDENS=1 and review it"
    assert rendered == path.read_text(encoding="utf-8"), f"{name}: the payload differs from {path}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_renders_as_its_golden_file(name: str) -> None:
    check(name, CASES[name]())


def test_every_golden_file_has_a_case() -> None:
    """A message whose case was dropped would leave its file behind, unchecked."""
    files = {str(p.relative_to(GOLDEN).with_suffix("")) for p in GOLDEN.rglob("*.json")}
    # sent/ holds the scenarios' files, teams/ the Teams cards (tests/unit/handlers/teams/render/test_golden_cards.py).
    scenarios = {name for name in files if name.startswith(("sent/", "teams/"))}
    assert files - scenarios == set(CASES)
