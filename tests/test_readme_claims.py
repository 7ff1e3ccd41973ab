"""The README's threat model names the tests that attack each claim: every one of them must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A test is named by its path under tests/ (`scenarios/kudos/test_kudos.py::test_…`), or by its name
# alone after one that gave the path.
NAMED = re.compile(r"`(?:((?:[a-z_]+/)*test_[a-z_]+\.py))?::(test_[a-z0-9_]+)`")


def test_every_test_the_threat_model_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("Threat model: what each role can and cannot learn")
    table = readme[start : readme.index("\n\n", readme.index("| Who |", start))]
    current: str | None = None
    named = []
    for file_name, test_name in NAMED.findall(table):
        current = file_name or current
        assert current is not None, f"{test_name} is named without its file"
        named.append((current, test_name))
    assert len(named) >= 15
    for file_name, test_name in named:
        source = (ROOT / "tests" / file_name).read_text()
        assert re.search(rf"^def {test_name}\(", source, re.MULTILINE), f"{file_name}::{test_name} does not exist"
