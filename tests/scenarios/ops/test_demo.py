"""`empathy-bot demo`: twelve simulated weeks through the real jobs, with valid Block Kit and charts out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli.main import main
from handlers.slack.render.limits import problems
from tests.fakes.teams.cards import activity_problems, cards

pytestmark = pytest.mark.slow


def test_the_demo_writes_valid_digests_an_overview_and_charts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "EMPATHY_ADMINS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["demo", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    assert "12 pulses" in printed and "Every message and view is inside Slack's Block Kit limits." in printed
    out = tmp_path / "out"
    digests = sorted((out / "digests").glob("*.json"))
    assert len(digests) >= 8
    for path in digests:
        message = json.loads(path.read_text())
        assert problems(message) == [], path.name
        assert path.with_suffix(".md").read_text().strip()
    for path in (out / "home").glob("*.json"):
        assert problems(json.loads(path.read_text()), "home") == [], path.name
    # HR's Home shows every feature's section, as the app draws it.
    hr_home = (out / "home" / "home-priya-natarajan.json").read_text()
    for section in ("*Suggestion box*", "Suggestions to handle", "Kudos", "Onboarding"):
        assert section in hr_home, section
    # The team sliding toward burnout is flagged, with a reason, and gets concrete ideas.
    support = (out / "digests" / "digest-kemi-adeyemi.md").read_text()
    assert "Burnout has been going up for a while" in support
    assert "Ideas for this week" in support
    # The recovering team's burnout trend points down; nothing is flagged for it.
    platform = (out / "digests" / "digest-ines-moreau.md").read_text()
    assert "⚠️" not in platform
    overview = (out / "digests" / "hr-overview-priya-natarajan.md").read_text()
    assert "Every group × driver" in overview and "·" in overview
    charts = sorted((out / "charts").glob("*.png"))
    assert charts and all(p.read_bytes().startswith(b"\x89PNG") for p in charts)
    assert all(p.with_suffix(".alt.txt").read_text().startswith("Line chart:") for p in charts)
    # The same digests, overview, charts and pulses as Teams would get them: valid Adaptive Cards.
    teams = out / "teams"
    assert {p.stem for p in teams.glob("digest-*.json")} == {p.stem for p in digests if p.stem.startswith("digest-")}
    assert (teams / "hr-overview-priya-natarajan.json").exists()
    assert len(list(teams.glob("trend-*.json"))) == len(charts)
    assert len(list(teams.glob("pulse-round-*.json"))) >= 12
    for path in teams.glob("*.json"):
        assert activity_problems(json.loads(path.read_text())) == [], path.name
    # Home cards, one per Slack App Home file (an employee, a manager, HR), refreshed for their viewer.
    homes = {p.stem for p in teams.glob("home-*.json")}
    assert homes == {p.stem for p in (out / "home").glob("*.json")}
    hr_card = json.loads((teams / "home-priya-natarajan.json").read_text())
    assert cards(hr_card)[0]["refresh"]["action"]["verb"] == "home.refresh"
    for section in ("Suggestion box", "Suggestions to handle", "Kudos", "The whole organisation", "active people"):
        assert section in json.dumps(hr_card, ensure_ascii=False), section
    trend = json.loads(next(teams.glob("trend-*.json")).read_text())
    assert '"type": "Image"' in json.dumps(cards(trend)) and "data:image/png;base64," in json.dumps(trend)
