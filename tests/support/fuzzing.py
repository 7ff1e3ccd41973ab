"""Shared pieces of the abuse suite (tests/scenarios/privacy/test_abuse.py and benchmarks/abuse.py): hostile text, a generic
generator of view submissions from a modal's own blocks, and the checks that nothing crashed or leaked."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.fakes.slack.api import Call
from tests.support.paths import ROOT

# Text a person could type that must come out inert: broadcasts, mentions, markup, SQL, control characters.
NASTY = [
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<!subteam^S0123|@team>",
    "<@U0PRIYA>",
    "<#C0GENERAL|general>",
    "'; DROP TABLE person; --",
    '" OR 1=1 --',
    "*bold* _italic_ ~strike~ `code` ```block```",
    "&lt;!channel&gt; &amp; <>&",
    "<https://evil.example|click me>",
    "\u202eevil\u202c",
    "\x00\x01\x7f",
    "😀" * 50,
    "x" * 5000,
    "\n" * 50,
    "    ",
    "2026-02-30",
    "-1",
    "99999999999999999999",
    "@channel",
]

# Words the commands understand, so fuzzing reaches past "I don't know that subcommand".
SUBCOMMANDS = [
    "",
    "help",
    "config",
    "config kudos-channel",
    "config suggestions-channel",
    "audit",
    "privacy",
    "privacy export",
    "send",
    "settings",
    "schedule",
    "stats",
    "leaderboard",
    "private",
    "digest",
    "status",
    "template",
    "start",
]

BROADCAST = re.compile(r"<!(channel|here|everyone|subteam)")

slack_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=200),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=20), max_size=6).map(" ".join),
)
command_text = st.one_of(
    slack_text,
    st.tuples(st.sampled_from(SUBCOMMANDS), slack_text).map(lambda pair: f"{pair[0]} {pair[1]}".strip()),
)


def slash_commands() -> list[str]:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return [entry["command"] for entry in manifest["features"]["slash_commands"]]


def leaks(calls: list[Call], replies: Sequence[str] = ()) -> list[str]:
    """Anything the bot sent (or answered) that would ping a channel: user text must never become a broadcast.

    Modal field errors (`response_action: errors`) are shown by Slack as plain text, where `<!channel>` is
    just characters, so they are not counted.
    """
    found = [
        f"{c.method}: …{json.dumps(c.body)[max(0, m.start() - 80) : m.end() + 20]}"
        for c in calls
        if (m := BROADCAST.search(json.dumps(c.body)))
    ]
    for reply in replies:
        if '"response_action"' in reply:
            continue
        if m := BROADCAST.search(reply):
            found.append(f"reply: …{reply[max(0, m.start() - 80) : m.end() + 20]}")
    return found


def crashes(records: list[logging.LogRecord]) -> list[str]:
    """Unexpected exceptions the app's error handler caught (it logs them as 'unexpected … while handling')."""
    return [
        r.getMessage().splitlines()[0] for r in records if r.levelno >= logging.ERROR and "unexpected" in r.getMessage()
    ]


def input_elements(view: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every input in a modal, including actions/section accessories."""
    for block in view.get("blocks", []):
        block_id = block.get("block_id", "")
        if block.get("type") == "input" and "element" in block:
            yield block_id, block["element"]
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if "action_id" in element:
                yield block_id, element


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return options


def element_value(data: st.DataObject, element: dict[str, Any]) -> dict[str, Any]:
    """A value for `element` as Slack would send it in view.state, drawn to be sometimes valid, sometimes hostile."""
    kind = element.get("type", "")
    state: dict[str, Any] = {"type": kind}
    options = _options(element)
    hostile_option = {"text": {"type": "plain_text", "text": "x"}, "value": data.draw(slack_text)}
    if kind == "plain_text_input":
        state["value"] = data.draw(st.none() | slack_text)
    elif kind in ("static_select", "radio_buttons", "external_select"):
        choices = [*options, hostile_option] if options else [hostile_option]
        state["selected_option"] = data.draw(st.none() | st.sampled_from(choices))
    elif kind in ("checkboxes", "multi_static_select"):
        choices = [*options, hostile_option] if options else [hostile_option]
        state["selected_options"] = data.draw(st.lists(st.sampled_from(choices), max_size=len(choices) + 1))
    elif kind == "users_select":
        state["selected_user"] = data.draw(
            st.none() | st.sampled_from(["U0PRIYA", "U0ANA", "U0NOBODY", "W0X", "B0BOT"])
        )
    elif kind == "multi_users_select":
        state["selected_users"] = data.draw(
            st.lists(st.sampled_from(["U0PRIYA", "U0ANA", "U0NOBODY", "B0BOT"]), max_size=60)
        )
    elif kind in ("channels_select", "conversations_select"):
        key = "selected_channel" if kind == "channels_select" else "selected_conversation"
        state[key] = data.draw(st.none() | st.sampled_from(["C0GENERAL", "D0ANA", "G0PRIVATE", "not-a-channel"]))
    elif kind == "datepicker":
        state["selected_date"] = data.draw(
            st.none() | st.sampled_from(["2026-11-23", "1900-01-01", "2026-02-30", "soon"])
        )
    elif kind == "timepicker":
        state["selected_time"] = data.draw(st.none() | st.sampled_from(["09:00", "23:59", "25:61", "noon"]))
    elif kind == "number_input":
        state["value"] = data.draw(st.none() | st.sampled_from(["0", "-1", "3", "1e9", "abc"]))
    else:
        state["value"] = data.draw(slack_text)
    return state


def view_state(data: st.DataObject, view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for block_id, element in input_elements(view):
        values.setdefault(block_id, {})[element["action_id"]] = element_value(data, element)
    return values


def action_elements(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every element a person can click (in `actions` blocks and section accessories) in the messages and
    views the bot produced. Inputs inside modals are not clicks: their values arrive with the submission."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def keep(element: dict[str, Any]) -> None:
        if "action_id" in element:
            found.setdefault((element["action_id"], str(element.get("value", ""))), element)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "actions":
                for element in node.get("elements", []):
                    keep(element)
            if node.get("type") == "section" and isinstance(node.get("accessory"), dict):
                keep(node["accessory"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for body in bodies:
        walk(body)
    return list(found.values())
