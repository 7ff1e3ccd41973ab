"""Names come from the directory (Slack profiles, the org file), so a display name is text someone typed.
Someone named `<!channel> & <@U1>` receives a pulse DM, kudos, a digest and onboarding steps through
the real app, outbox and fake Slack: no text fallback or mrkdwn field may carry the ping or the mention
unescaped. (The fake fails any test whose bot output would ping @channel/@here: FakeSlack.broadcasts.)"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import ManualClock
from bot.core.models import Person
from bot.onboarding.models import OnboardingJourney
from tests.fakes.slack.api import FakeSlack, mrkdwn_texts
from tests.scenarios.onboarding.test_onboarding import Bot, bot  # noqa: F401  (`bot` is the fixture)
from tests.scenarios.pulse.test_digest import MONDAY, dispatch, send_digests
from tests.scenarios.pulse.test_pulse import Pulse, answer_buttons, open_and_deliver, pulse  # noqa: F401  (`pulse` too)
from tests.support.people import slack_is
from tests.unit.surveys.test_results import ORG, build_org, run_round

EVIL = "<!channel> & <@U1>"
WRITES = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish", "views.open", "views.update")


def unescaped(slack: FakeSlack) -> list[str]:
    """Every mrkdwn text or fallback the bot sent in which the name is still live markup."""
    found = []
    for call in slack.calls:
        if call.method in WRITES or call.method.startswith("response_url."):
            for text in mrkdwn_texts(call.body):
                if "<!channel>" in text or "<@U1>" in text or "<!here>" in text or " & <" in text:
                    found.append(f"{call.method}: {text[:200]}")
    return found


def committed(harness: Any) -> None:
    """The ack of /onboard can arrive before its transaction commits; a job started meanwhile would
    create the built-in templates a second time (ensure_templates reads, then inserts)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with harness.session_factory() as session:
            if session.scalar(select(func.count()).select_from(OnboardingJourney)):
                return
        time.sleep(0.02)
    raise AssertionError("the journey never committed")


def rename_everyone(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.execute(update(Person).values(name=EVIL + " " + Person.name))


def test_a_pulse_dm_and_its_update_escape_the_name(pulse: Pulse) -> None:  # noqa: F811
    rename_everyone(pulse.session_factory)
    open_and_deliver(pulse)
    message = pulse.dm("U0ANA")[0]
    assert message["text"].startswith("Hi &lt;!channel&gt; ")  # the (first) name is there, escaped
    pulse.click("U0ANA", answer_buttons(message)[0][0], message)
    pulse.slack.wait_for("chat.update")
    assert unescaped(pulse.slack) == []


def test_kudos_escape_the_giver_and_recipient_names(pulse: Pulse) -> None:  # noqa: F811
    rename_everyone(pulse.session_factory)
    set_channel = pulse.command("/empathy", "config kudos-channel C0KUDOS", user="U0MARCUS")
    assert set_channel["text"].startswith("Done"), set_channel
    pulse.command("/kudos", "<@U0CHEN> for the migration", user="U0ANA")
    pulse.wait_reply(1)
    pulse.dispatch()
    [dm] = pulse.dm("U0CHEN")
    [post] = pulse.slack.messages("C0KUDOS")
    assert "&lt;!channel&gt;" in dm["text"] and "&lt;!channel&gt;" in post["text"]
    pulse.requests.app_home_opened("U0CHEN")
    pulse.slack.wait_for("views.publish")
    assert unescaped(pulse.slack) == []


def test_a_digest_escapes_team_and_manager_names(
    session_factory: sessionmaker[Session],
    workspace: Any,
    slack: FakeSlack,
    settings: Any,
) -> None:
    with session_factory.begin() as session:
        build_org(session, session.merge(workspace))
    for name in ORG:
        slack.add_user(f"U0{name.upper()}", email=f"{name}@example.com", real_name=name.title())
    for week in range(6):
        run_round(
            session_factory, workspace, {f"p{i}": 3 for i in range(6)}, date(2026, 10, 19) + timedelta(weeks=week)
        )
    rename_everyone(session_factory)
    clock = ManualClock(MONDAY)
    assert send_digests(settings, session_factory, clock) == 3
    dispatch(settings, session_factory, clock)
    [dana] = slack.messages("D0DANA")
    assert "&lt;!channel&gt;" in json.dumps(dana["blocks"])  # "<name>'s organisation", escaped
    assert unescaped(slack) == []
    assert all(not f["alt_txt"].startswith("<!") for f in slack.files())


def test_onboarding_steps_escape_the_new_hire_manager_and_buddy(bot: Bot) -> None:  # noqa: F811
    bot.add_new_hire("U0NOOR", "Noor Haddad", "Europe/Lisbon", "Platform", date(2026, 11, 23))
    rename_everyone(bot.session_factory)
    reply = bot.requests.command("/onboard", "<@U0NOOR> start 2026-11-23", user_id="U0PRIYA").get_json()
    assert reply["text"].startswith("Done"), reply
    committed(bot)
    bot.tick(1)
    for _ in range(4):
        bot.tick(24)
    noor = bot.dm("U0NOOR")
    marcus = bot.dm("U0MARCUS")
    assert noor and marcus, "the new hire and the manager heard from onboarding"
    assert "&lt;!channel&gt;" in json.dumps(noor + marcus)
    with bot.session_factory() as session:
        assert session.scalar(select(Person.name).where(slack_is("U0NOOR"))).startswith(EVIL)
    bot.requests.command("/onboard", "", user_id="U0MARCUS")
    # Errors quote what was typed and who is concerned; they are escaped where they are shown.
    refused = bot.requests.command("/onboard", "<@U0ANA> <!channel>", user_id="U0PRIYA").get_json()
    assert "template called `&lt;!channel&gt;`" in refused["text"]
    assert unescaped(bot.slack) == [] and "<!channel>" not in json.dumps(refused)
