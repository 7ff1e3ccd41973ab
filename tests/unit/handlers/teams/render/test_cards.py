"""The Teams renderer's rules, one by one: escaping, mentions, actions and their fallbacks, the action
cap, charts and the size limit. Every rendered activity is also checked against the official Adaptive
Cards 1.5 schema (tests/fakes/teams/cards.py)."""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.message import (
    Actions,
    Button,
    ChannelLink,
    Chart,
    Choice,
    Command,
    Divider,
    Heading,
    Literal,
    Mention,
    Message,
    Note,
    Option,
    Section,
    outbox_payload,
    quoted,
    text,
)
from handlers.teams.render.markdown import emoji, escape
from handlers.teams.render.message import (
    ENVELOPE,
    MAX_ACTIONS,
    MAX_BYTES,
    MessageTooLarge,
    Names,
    TeamsUser,
    UnresolvedMention,
    mentioned_ids,
    render,
    render_payload,
    size,
)
from tests.fakes.teams.cards import activity_problems, card_problems, cards, walk
from tests.support.fuzzing import NASTY

BOSS = TeamsUser("29:boss", "<at>Boss</at> **x**")
ANA = TeamsUser("29:ana", "Ana")
NAMES = Names(people={"U1": ANA, "U2": BOSS}, channels={"C1": "General"})


def card_of(message: Message, names: Names = NAMES, **options: Any) -> dict[str, Any]:
    activity = render(message, names, **options)
    assert activity_problems(activity) == []
    return cards(activity)[0]


def texts(card: dict[str, Any]) -> list[str]:
    return [item["text"] for item in walk(card["body"]) if item.get("type") == "TextBlock"]


def shown(markdown: str) -> str:
    """What a reader sees of escaped text once Teams decodes the character references."""
    return html.unescape(markdown)


# -- escaping --------------------------------------------------------------------------------------

TYPED = [
    "<at>Boss</at>",
    "**x**",
    "_y_ and ~z~ and `code`",
    "[click](https://evil.example)",
    "- not a list\n1. nor this\n+ nor this\n# nor a heading",
    "{{DATE(2017-02-14T06:00:00Z, SHORT)}}",
    "a \\*b\\* &amp; c",
]


@pytest.mark.parametrize("typed", TYPED)
def test_what_a_person_typed_renders_inert_and_reads_as_typed(typed: str) -> None:
    rendered = escape(typed)
    for markup in ("<", ">", "*", "_", "[", "]", "(", ")", "`", "~", "{", "}", "\\", "#"):
        assert markup not in rendered.replace("&#", "").replace(";", ""), (typed, markup)
    for line in rendered.split("\n"):
        assert not line.startswith(("-", "+")) and not line[:1].isdigit(), line
    assert shown(rendered) == typed


def test_a_name_that_looks_like_a_mention_does_not_become_one() -> None:
    card = card_of(Message(text("Hi"), (Section(text("From ", Literal("<at>Boss</at> **x**"))),)))
    (line,) = texts(card)
    assert "<at>" not in line and "**" not in line
    assert shown(line) == "From <at>Boss</at> **x**"
    assert "entities" not in card["msteams"]


def test_our_markup_is_translated_and_quotes_become_an_emphasis_container() -> None:
    message = Message(
        text("x"),
        (Section(text(":tada: *Bold* and _italic_ ~gone~ `/empathy help`\n", quoted("first\nsecond"))),),
    )
    body = card_of(message)["body"]
    assert body[0]["text"] == "🎉 **Bold** and _italic_ gone /empathy help"
    assert body[1]["type"] == "Container" and body[1]["style"] == "emphasis"
    assert [item["text"] for item in body[1]["items"]] == ["first", "second"]


def test_a_code_fence_becomes_monospace_rows_with_their_spacing_kept() -> None:
    table = "Group    n\n  Team <a>  5"
    body = card_of(Message(text("x"), (Section(text("```", Literal(table), "```")),)))["body"]
    assert [b.get("fontType") for b in body] == ["Monospace", "Monospace"]
    assert shown(body[1]["text"]) == "\u00a0\u00a0Team\u00a0<a>\u00a0\u00a05"
    assert "wrap" not in body[1]


# -- mentions --------------------------------------------------------------------------------------


def test_each_mention_is_an_at_tag_with_one_entity_in_the_same_order() -> None:
    message = Message(
        text("Kudos from ", Mention("U1")),
        (
            Section(text("*Kudos from ", Mention("U1"), "* to ", Mention("U2"), " and ", Mention("U1"))),
            Note(text("Posted in ", ChannelLink("C1"))),
        ),
    )
    card = card_of(message)
    body_text = "\n".join(texts(card))
    tags = [f"<at>{part.split('</at>')[0]}</at>" for part in body_text.split("<at>")[1:]]
    entities = card["msteams"]["entities"]
    assert [e["text"] for e in entities] == tags == ["<at>Ana</at>", f"<at>{escape(BOSS.name)}</at>", "<at>Ana</at>"]
    assert [e["mentioned"] for e in entities] == [
        {"id": "29:ana", "name": "Ana"},
        {"id": "29:boss", "name": BOSS.name},
        {"id": "29:ana", "name": "Ana"},
    ]
    assert "**General**" in body_text
    assert mentioned_ids(message) == {"U1", "U2"}


def test_a_mention_nobody_resolved_is_an_error_not_a_silent_name() -> None:
    with pytest.raises(UnresolvedMention, match="U9"):
        render(Message(text("x"), (Section(text("Hi ", Mention("U9"))),)), NAMES)


def test_a_cut_text_keeps_tags_references_and_entities_whole() -> None:
    value = text("*Hello* ", Literal("&&&"), " ", Mention("U1"), " more words", limit=len("**Hello** &amp;&a"))
    card = card_of(Message(text("x"), (Section(value),)))
    (line,) = texts(card)
    assert line == "**Hello** &amp;"
    assert "entities" not in card["msteams"]
    cut_in_tag = text("*Hi ", Mention("U1"), "*", limit=len("**Hi <at>An"))
    card = card_of(Message(text("x"), (Section(cut_in_tag),)))
    assert texts(card) == ["Hi "] and "entities" not in card["msteams"]
    for cut_at in range(len("**Hi <at>Ana</at>**")):
        card = card_of(Message(text("x"), (Section(text("*Hi ", Mention("U1"), "*", limit=cut_at)),)))
        rendered = "".join(texts(card))
        # Whole, or without the unclosed bold: never half a tag or a stray asterisk.
        assert rendered in ("", "H", "Hi", "Hi ", "Hi <at>Ana</at>", "**Hi <at>Ana</at>**"), cut_at
        assert len(card["msteams"].get("entities", [])) == rendered.count("<at>")


# -- actions ---------------------------------------------------------------------------------------


def _executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in walk(card["body"]) if item.get("type") == "Action.Execute"]


def test_a_button_is_an_execute_action_with_a_submit_fallback_carrying_the_same_data() -> None:
    message = Message(
        text("x"),
        (
            Actions((Button("Yes :tada:", "pulse.answer.1", "42|q|1", "primary"),), block_id="a.q"),
            Section(text("Task"), button=Button("Done", "onboard.done", "11", shortcodes=False)),
        ),
    )
    first, done = _executes(card_of(message))
    assert first["verb"] == "pulse.answer.1" and first["title"] == "Yes 🎉" and first["style"] == "positive"
    assert first["data"] == {"action": "pulse.answer.1", "value": "42|q|1", "block": "a.q"}
    assert first["fallback"] == {
        "type": "Action.Submit",
        "title": "Yes 🎉",
        "data": first["data"],
        "associatedInputs": "none",
        "style": "positive",
    }
    assert done["data"] == {"action": "onboard.done", "value": "11"}


def test_a_choice_is_a_choice_set_and_an_action_that_names_it() -> None:
    options = tuple(Option(str(i), f"42|q|{i}") for i in range(11))
    message = Message(text("x"), (Actions((Choice("pulse.select", options, "Choose…", "42|q|7"),), block_id="a.q"),))
    body = card_of(message)["body"]
    choice_set, action_set = body
    assert choice_set["type"] == "Input.ChoiceSet" and choice_set["value"] == "42|q|7"
    assert [c["value"] for c in choice_set["choices"]] == [o.value for o in options]
    (send,) = action_set["actions"]
    assert send["data"] == {"action": "pulse.select", "input": choice_set["id"], "block": "a.q"}
    assert "associatedInputs" not in send  # the choice's value must travel with it
    assert send["fallback"]["type"] == "Action.Submit"


def test_every_execute_action_in_every_golden_card_has_a_submit_fallback() -> None:
    from tests.unit.handlers.teams.render.test_golden_cards import NEUTRAL, run_case

    seen = 0
    for name in NEUTRAL:
        for activity in run_case(name)[1]:
            for action in _executes(cards(activity)[0]):
                seen += 1
                fallback = action["fallback"]
                assert fallback["type"] == "Action.Submit" and fallback["data"] == action["data"], name
                assert fallback["title"] == action["title"], name
    assert seen > 50


@pytest.mark.parametrize("count", [1, MAX_ACTIONS, MAX_ACTIONS + 1, 2 * MAX_ACTIONS + 1])
def test_a_row_of_actions_is_split_into_sets_of_at_most_the_cap(count: int) -> None:
    buttons = tuple(Button(str(i), f"a.{i}", str(i)) for i in range(count))
    body = card_of(Message(text("x"), (Actions(buttons),)))["body"]
    assert all(b["type"] == "ActionSet" and 1 <= len(b["actions"]) <= MAX_ACTIONS for b in body)
    assert [a["verb"] for b in body for a in b["actions"]] == [f"a.{i}" for i in range(count)]
    assert len(body) == -(-count // MAX_ACTIONS)


# -- charts, headings, dividers, summary -----------------------------------------------------------


def test_a_chart_is_drawn_inline_as_a_small_png_with_alt_text() -> None:
    from bot.delivery.charts import trend_alt_text, trend_spec
    from tests.support.golden_cases import _section

    section = _section("Support & Ops")
    spec = trend_spec("Support & Ops", section.series_dates, section.series)
    chart = Chart(spec, "trend.png", "Engagement and burnout trend", trend_alt_text(spec))
    activity = render(Message(text("Your trend"), (Heading("Digest"), chart)))
    assert activity_problems(activity) == []
    image = next(item for item in walk(cards(activity)[0]["body"]) if item.get("type") == "Image")
    assert image["altText"] == chart.alt_text
    png = base64.b64decode(image["url"].removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 60_000
    # The picture does not count toward Teams' limit; everything else does.
    assert size(activity) < 2_000 < len(json.dumps(activity))


def test_summary_is_the_plain_notification_text_and_fallback_text() -> None:
    message = Message(
        text("*Kudos* from ", Literal("Ana <3"), " to ", Mention("U2"), limit=40),
        (Heading("Kudos *time* <3"), Divider(), Section(text("after the divider"))),
    )
    activity = render(message, NAMES)
    assert activity["summary"] == f"Kudos from Ana <3 to {BOSS.name}"[:40]
    content = cards(activity)[0]
    assert content["fallbackText"] == activity["summary"] and "text" not in activity
    heading, after = content["body"]
    assert shown(heading["text"]) == "Kudos *time* <3" and heading["style"] == "heading"
    assert after["separator"] is True


# -- size ------------------------------------------------------------------------------------------


def test_an_activity_over_teams_size_limit_is_refused_with_a_clear_error() -> None:
    line = "word " * 200
    fits = Message(text("x"), tuple(Section(text(line)) for _ in range(MAX_BYTES // 1100)))
    assert MAX_BYTES - 10_000 < size(render(fits)) <= MAX_BYTES - ENVELOPE
    too_big = Message(text("x"), tuple(Section(text(line)) for _ in range(MAX_BYTES // 900)))
    with pytest.raises(
        MessageTooLarge, match=r"bytes without its images; Teams takes at most 100,000 with the 1,000 the sender adds"
    ):
        render(too_big)


def test_render_payload_takes_a_neutral_outbox_row_and_refuses_a_slack_one() -> None:
    from bot.core.message import UnreadableMessage

    message = Message(text("Hello ", Mention("U1")), (Section(text("Hello ", Mention("U1"))),))
    assert render_payload(outbox_payload(message), NAMES) == render(message, NAMES)
    with pytest.raises(UnreadableMessage):
        render_payload({"text": "old Slack arguments", "blocks": []}, NAMES)


# -- the checker itself ----------------------------------------------------------------------------


def test_the_schema_check_can_fail() -> None:
    """The validation above means something: a card the schema forbids is reported."""
    good = card_of(Message(text("x"), (Actions((Button("A", "a", "1"),)),)))
    assert card_problems(good) == []
    broken = json.loads(json.dumps(good))
    broken["body"][0]["actions"][0]["verb"] = 7
    broken["body"].append({"type": "TextBlock"})  # no text
    broken["msteams"]["entities"] = [{"type": "mention", "text": "Ana", "mentioned": {"id": "", "name": "A"}}]
    assert card_problems(broken) == [
        "body/0/actions/0/verb: 7 is not of type 'string'",
        "body/1: 'text' is a required property",
        "msteams/entities/0/mentioned/id: '' should be non-empty",
        "msteams/entities/0/text: 'Ana' does not match '^<at>.*</at>$'",
    ]
    # The official schema alone forbids `msteams`: the checker takes it out, it does not skip the card.
    assert card_problems({**good, "speak": 3}) == ["speak: 3 is not of type 'string'"]


# -- anything at all a person could type -----------------------------------------------------------

_PIECES = [*"<>&*_[]()`~\\{}#-+.!|:/@ \n\r1aZ", "at", "```", "> ", "<at>", "</at>", ":tada:", "&#42;"]
_TYPED = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(words=_TYPED | st.sampled_from(NASTY) | st.text(max_size=40))
def test_any_typed_text_shows_as_typed_and_opens_no_markup(words: str) -> None:
    message = Message(text("x"), (Section(text("*Said:* ", Literal(words))),))
    card = card_of(message)
    lines = texts(card)
    assert "entities" not in card["msteams"]
    assert lines[0].startswith("**Said:** ")
    literal = [lines[0].removeprefix("**Said:** "), *lines[1:]]
    for line in literal:
        bare = re.sub(r"&(#\d+|amp|lt|gt);", "", line)
        assert not set(bare) & set("<>&*_[]()`~\\{}#"), line
        assert not re.match(r"\s*([-+]|\d+[.)])", line), line
    body = [shown(line) for line in lines]
    body[0] = body[0].removeprefix("**Said:** ")
    typed = emoji(words).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Each line as typed (short codes as emoji), the blank ones left out; no quote or code block made.
    expected = [line for i, line in enumerate(typed) if i == 0 or line.strip()]
    assert body == expected
    assert all(b["type"] == "TextBlock" and "fontType" not in b for b in card["body"])


# -- command hints ---------------------------------------------------------------------------------


def test_a_command_is_phrased_as_typed_to_the_bot_on_teams() -> None:
    """Teams has no slash commands, and Slack's umbrella `/empathy` is no word there: its sub-commands
    (help, privacy) are the bot's own, in its command menu."""
    card = card_of(
        Message(
            text("Hi"),
            (Section(text(Command("suggest mine"), " lists them; ", Command("empathy help"), " explains.")),),
        )
    )
    (line,) = texts(card)
    assert line == "**suggest mine** lists them; **help** explains."
    assert "/" not in line


def test_a_part_the_teams_renderer_does_not_know_fails_loudly() -> None:
    class Unknown:
        pass

    with pytest.raises(TypeError):
        card_of(Message(text("Hi"), (Section(text("x", Unknown())),)))  # type: ignore[arg-type]
