"""Every message the bot sends (tests/support/golden_cases.py), rendered for Teams: each card passes the
official Adaptive Cards 1.5 schema, and each activity matches its file under tests/golden/teams/.

The cases return Slack payloads: they call `render` (Slack's renderer) on the neutral message. Here that
name is swapped for the Teams renderer while a case runs, so the same fixed inputs give the Teams
activity, in the same structure (Slack-only modals and views, which are not neutral messages, drop
out). `EMPATHY_UPDATE_GOLDENS=1` writes the files again, as for Slack's goldens; review the diff.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from microsoft_teams.api import MessageActivityInput
from microsoft_teams.cards import AdaptiveCard

from handlers.teams.render.message import MessageTooLarge, Names, TeamsUser, render
from tests.fakes.teams.cards import activity_problems, cards
from tests.support import golden_cases
from tests.support.paths import TESTS
from tests.unit.handlers.slack.render.test_golden import UPDATE, dumps

GOLDEN = TESTS / "golden" / "teams"
# The golden cases mention people by their Slack ids; on Teams the caller resolves each to a Teams id
# and the display name (with characters that must be escaped, as the cases' names have).
NAMES = Names(
    people={
        "U0ANA": TeamsUser("29:1ana", "Ana <Souza>"),
        "U0BEN": TeamsUser("29:1ben", "Ben & Co"),
        "U0CHEN": TeamsUser("29:1chen", "Chen Wei"),
        "U0NONAME": TeamsUser("29:1noname", ""),
    },
    channels={"C0KUDOS": "Kudos & thanks"},
)
# Charts are drawn for real in test_teams_cards.py; here a fixed picture keeps the files stable
# across matplotlib versions.
PICTURE = b"\x89PNG\r\n\x1a\n golden stand-in"


class _Rendered:
    def __init__(self, activity: dict[str, Any]) -> None:
        self.activity = activity


def _teams(value: Any) -> Any:
    """The case's result with each Teams activity in place and everything else (Slack views) left out."""
    if isinstance(value, _Rendered):
        return value.activity
    if isinstance(value, dict):
        kept = {k: _teams(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        kept_list = [_teams(v) for v in value]
        return [v for v in kept_list if v is not None] or None
    return None


def run_case(name: str) -> tuple[Any, list[dict[str, Any]]]:
    """What the case gives on Teams, and the activities it rendered (a refusal is recorded as such)."""
    activities: list[dict[str, Any]] = []

    def teams_render(message: Any) -> Any:
        try:
            activity = render(message, NAMES, draw=lambda spec: PICTURE)
        except MessageTooLarge as error:
            return _Rendered({"refused": type(error).__name__, "because": str(error)})
        activities.append(activity)
        return _Rendered(activity)

    with mock.patch.object(golden_cases, "render", teams_render):
        result = golden_cases.CASES[name]()
    return _teams(result), activities


def _neutral_cases() -> list[str]:
    return sorted(name for name in golden_cases.CASES if run_case(name)[0] is not None)


NEUTRAL = _neutral_cases()
# Too large for one Teams message (see the last test): no card to validate.
REFUSED = {"digest/hr_overview_long_table"}


def test_every_neutral_message_of_the_golden_cases_is_covered() -> None:
    """The Slack-only cases (modals, App Home sections, texts) are the only ones without a Teams card."""
    slack_only = set(golden_cases.CASES) - set(NEUTRAL)
    assert all(n.endswith(("modal", "modals", "modal_no_values", "view", "texts", "home_section")) for n in slack_only)
    assert len(NEUTRAL) >= 25


@pytest.mark.parametrize("name", NEUTRAL)
def test_every_card_passes_the_official_adaptive_cards_schema(name: str) -> None:
    _, activities = run_case(name)
    assert bool(activities) != (name in REFUSED)
    for activity in activities:
        assert activity_problems(activity) == []
        # The Teams SDK's own models take it too, losing nothing: an invoke's card update
        # (AdaptiveCardActionCardResponse) is built from the SDK's AdaptiveCard.
        MessageActivityInput.model_validate(activity)
        card = cards(activity)[0]
        assert AdaptiveCard.model_validate(card).model_dump(by_alias=True, exclude_none=True) == card


@pytest.mark.parametrize("name", NEUTRAL)
def test_activity_matches_its_teams_golden_file(name: str) -> None:
    result, _ = run_case(name)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(result), encoding="utf-8")
        return
    assert path.exists(), f"no Teams golden file for {name}: run with EMPATHY_UPDATE_GOLDENS=1 and review it"
    assert dumps(result) == path.read_text(encoding="utf-8"), f"{name}: the activity differs from {path}"


def test_every_teams_golden_file_has_a_case() -> None:
    files = {str(p.relative_to(GOLDEN).with_suffix("")) for p in GOLDEN.rglob("*.json")}
    assert files == set(NEUTRAL)


def test_an_overview_too_large_for_teams_is_refused_not_cut() -> None:
    """600 groups' heatmap fits Slack's 50 blocks but not Teams' 100 KB: the renderer says so."""
    (name,) = REFUSED
    result, _ = run_case(name)
    assert result["refused"] == "MessageTooLarge"
    assert "Teams takes at most 100,000" in result["because"]
