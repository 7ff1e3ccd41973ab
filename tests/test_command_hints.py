"""Hints at commands come from the platform: the domain says `Command("suggest mine")`, Slack says
`` `/suggest mine` `` (README: Development → House rules; issue 16, "each platform phrases its own hints").

- No string of the domain (outside the composition roots) spells a slash command; docstrings and
  comments may, as they talk to readers of the code, not to people in chat.
- Every `UserFacingError` the domain raises renders, through Slack's phrasing and through `str()`,
  without a placeholder or a part's fields, and with each of its commands phrased as Slack's.
- Slack's listeners never show a user-facing error by `str()`: they phrase it.
- `Command` survives the outbox's JSON, and a renderer never drops a part it does not know.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.errors import UserFacingError
from bot.core.message import Command, Literal, Message, Note, Section, Text, neutral, outbox_payload, text
from bot.core.models import Person
from handlers.slack.render.message import error_text, hint_text, json_text, mrkdwn, render, render_payload
from tests.conftest import SECRET_KEY
from tests.support.people import slack_is
from tests.test_layers import ROOT, _is_root, _modules

# A slash command in our markup (`` `/word `` in code), or one of the bot's own commands anywhere in a
# string (not inside a URL or a path such as sqlite:///empathy.sqlite3).
SLASH_COMMAND = re.compile(r"`/[a-z]|(?<![\w/:.])/(?:pulse|kudos|suggest|onboard|empathy|invite)\b")


def _domain_modules() -> dict[str, Path]:
    return {
        name: path
        for name, path in _modules().items()
        if name.split(".")[0] in ("bot", "surveys") and not _is_root(name)
    }


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def slash_commands_in(source: str, where: str) -> list[str]:
    """Each string constant (f-strings' pieces too) that spells a slash command, docstrings aside;
    comments never reach the tree."""
    tree = ast.parse(source, where)
    docs = _docstrings(tree)
    return [
        f"{where}:{node.lineno}: {node.value[:80]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and SLASH_COMMAND.search(node.value)
    ]


def test_no_domain_string_spells_a_slash_command() -> None:
    found = [
        hit
        for name, path in _domain_modules().items()
        for hit in slash_commands_in(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == [], "say Command('…') and let the platform phrase it:\n" + "\n".join(found)


def test_the_slash_command_walk_sees_what_it_must() -> None:
    """The walk must flag strings and f-string pieces and pass docstrings, comments and URLs, or the test
    above would pass on anything."""
    source = '''
"""Module docstring: `/pulse` is fine here."""
def f(reference):
    """So is `/suggest` here."""
    # and `/kudos` here
    a = "`/pulse` shows the one open now."
    b = f"To take it back, use `/suggest delete {reference}`."
    c = "invite me first (`/invite @Empathy Bot`)"
    d = "try /empathy help"
    e = "sqlite:///empathy.sqlite3 or https://example.com/pulse"
'''
    hits = slash_commands_in(source, "planted.py")
    assert sorted(hit.split(":")[1] for hit in hits) == ["6", "7", "8", "9"]
    assert len(_domain_modules()) > 40 and "bot.cli.main" not in _domain_modules()


# -- every user-facing error the domain raises -----------------------------------------------------


class _Anything(str):
    """Stands in for the locals of a raise site: a word that also formats, counts, compares, indexes
    and calls as something, so that each message can be built without its request."""

    def __new__(cls) -> _Anything:
        return super().__new__(cls, "x")

    def __getattr__(self, name: str) -> _Anything:
        return self

    def __call__(self, *args: object, **kwargs: object) -> _Anything:
        return self

    def __getitem__(self, key: object) -> _Anything:  # type: ignore[override]
        return self

    def __format__(self, spec: str) -> str:
        return "x"

    def __len__(self) -> int:
        return 3

    def __iter__(self) -> Iterator[_Anything]:  # type: ignore[override]
        return iter((self,))

    def __index__(self) -> int:
        return 3

    def __int__(self) -> int:
        return 3

    def _same(self, other: object) -> _Anything:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __floordiv__ = _same  # type: ignore[assignment]

    def _no(self, other: object) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _no  # type: ignore[assignment]

    __hash__ = str.__hash__


class _Locals(dict[str, Any]):
    def __init__(self, module: Any) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, name: str) -> Any:
        if hasattr(self.module, name) or hasattr(builtins, name):
            raise KeyError(name)  # a global or builtin: eval finds it there
        return _Anything()


class _Labels(dict[Any, Any]):
    def __missing__(self, key: object) -> str:
        return "x"


@dataclass(frozen=True)
class RaiseSite:
    where: str
    error: UserFacingError


def _user_facing_raises() -> tuple[list[RaiseSite], list[str]]:
    """Every `raise SomeUserFacingError(...)` in the domain, built with stand-ins for its locals."""
    built: list[RaiseSite] = []
    unbuilt: list[str] = []
    for name, path in _domain_modules().items():
        module = importlib.import_module(name)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            call = node.exc if isinstance(node.exc, ast.Call) else None
            target = call.func if call is not None else node.exc
            try:
                raised = eval(compile(ast.Expression(target), str(path), "eval"), vars(module))
            except Exception:
                continue  # `raise error`, `raise SomeError from None`: no class to look up here
            if not (isinstance(raised, type) and issubclass(raised, UserFacingError)):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            globals_ = {**_tolerant(vars(module)), **_lookup_tables(module)}
            try:
                error = eval(compile(ast.Expression(node.exc), str(path), "eval"), globals_, _Locals(module))
            except Exception as failure:
                unbuilt.append(f"{where}: {type(failure).__name__}: {failure}")
                continue
            if isinstance(error, type):
                error = error()
            built.append(RaiseSite(where, error))
    return built, unbuilt


def _tolerant(namespace: dict[str, Any]) -> dict[str, Any]:
    """The module's functions, each answering a stand-in where it needs what a raise site's request
    would have given it (a database, a real person): the words of the message are what is checked."""

    def wrapped(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return function(*args, **kwargs)
            except Exception:
                return _Anything()

        return call

    return {key: wrapped(value) if isinstance(value, FunctionType) else value for key, value in namespace.items()}


def _lookup_tables(module: Any) -> dict[str, Any]:
    """The module's tables of labels (e.g. `messages.STATUS_LABELS[status]`) answer any key."""
    messages = getattr(module, "messages", None)
    if messages is not None and hasattr(messages, "STATUS_LABELS"):

        class Messages:
            def __getattr__(self, attribute: str) -> Any:
                value = getattr(messages, attribute)
                return _Labels(value) if isinstance(value, dict) else value

        return {"messages": Messages()}
    return {}


RAW = re.compile(r"Command\(|Text\(|Literal\(|words=|parts=|\{[a-z_]*\}|_Anything")


def test_every_user_facing_error_of_the_domain_renders_without_a_raw_token() -> None:
    sites, unbuilt = _user_facing_raises()
    assert unbuilt == [], "a raise site the stand-ins cannot build; teach the test its shape"
    with_commands = [s for s in sites if any(isinstance(p, Command) for p in s.error.text.parts)]
    # The walk found the raise sites (not nothing), and the hints among them.
    assert len(sites) > 60, len(sites)
    assert len(with_commands) >= 11, [s.where for s in with_commands]
    for site in sites:
        slack, fallback = error_text(site.error), str(site.error)
        assert slack.strip() and fallback.strip(), site.where
        assert not RAW.search(slack) and not RAW.search(fallback), (site.where, slack, fallback)
        for part in site.error.text.parts:
            if isinstance(part, Command):
                assert f"`/{part.words}`" in slack, site.where
                assert f"`{part.words}`" in fallback and f"/{part.words}" not in fallback, site.where


def test_slack_phrases_the_errors_as_before() -> None:
    from surveys.rounds import NotInvited, RoundNotFound

    assert error_text(RoundNotFound()) == (
        "I can't find that pulse any more, so nothing was recorded. `/pulse` shows the one open now."
    )
    assert error_text(NotInvited()) == (
        "This pulse wasn't sent to you, so I can't record an answer from you. `/pulse` shows any pulse that is yours."
    )
    # Without the platform's phrasing: words, not Slack's syntax and not a placeholder.
    assert str(RoundNotFound()) == (
        "I can't find that pulse any more, so nothing was recorded. `pulse` shows the one open now."
    )
    assert error_text(UserFacingError("Plain words stay as they are.")) == "Plain words stay as they are."


# -- the listeners phrase what they show -----------------------------------------------------------


def _user_facing(module: Any, annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    types = annotation.elts if isinstance(annotation, ast.Tuple) else [annotation]
    for node in types:
        try:
            caught = eval(compile(ast.Expression(node), "<except>", "eval"), vars(module))
        except Exception:
            continue
        if isinstance(caught, type) and issubclass(caught, UserFacingError):
            return True
    return False


def unphrased_errors_in(module: Any, source: str, where: str) -> list[str]:
    """`str(error)`, `f"{error}"` or `error.args` on a caught user-facing error: shown without Slack's phrasing."""
    found = []
    for handler in ast.walk(ast.parse(source, where)):
        if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
            continue
        if not _user_facing(module, handler.type):
            continue
        name = handler.name
        for node in (n for statement in handler.body for n in ast.walk(statement)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr"):
                shown = any(isinstance(a, ast.Name) and a.id == name for a in node.args)
            elif isinstance(node, ast.FormattedValue) or (isinstance(node, ast.Attribute) and node.attr == "args"):
                shown = isinstance(node.value, ast.Name) and node.value.id == name
            else:
                shown = False
            if shown:
                found.append(f"{where}:{node.lineno}")
    return found


def test_slack_listeners_phrase_every_user_facing_error_they_show() -> None:
    checked = 0
    found: list[str] = []
    for name, path in _modules().items():
        if not name.startswith("handlers"):
            continue
        source = path.read_text()
        if "except" not in source:
            continue
        module = importlib.import_module(name)
        checked += source.count("error_text(")
        found += unphrased_errors_in(module, source, str(path.relative_to(ROOT)))
    assert found == [], "show it with error_text(error) (handlers/slack/listeners/common.py):\n" + "\n".join(found)
    assert checked >= 20  # the listeners' error paths were seen, not skipped


def test_the_listener_walk_sees_what_it_must() -> None:
    import surveys.rounds as module

    source = """
def f():
    try:
        pass
    except PulseError as error:
        a = str(error)
        b = f"*Your pulse*\\n{error}"
        c = error_text(error)
    except ValueError as error:
        d = str(error)
"""
    assert unphrased_errors_in(module, source, "planted.py") == ["planted.py:6", "planted.py:7"]


# -- the part itself -------------------------------------------------------------------------------


def test_a_command_survives_the_outbox_json_and_slack_phrases_it() -> None:
    note = text("…and 2 more: ", Command("onboard"), " shows the full list.")
    message = Message(text(Command("suggest mine"), " lists them"), (Section(note), Note(text(Command("pulse")))))
    stored = json.loads(json.dumps(outbox_payload(message)))
    assert stored["message"]["blocks"][0]["text"] == ["…and 2 more: ", {"command": "onboard"}, " shows the full list."]
    assert Message.from_json(stored["message"]) == message
    rendered = render_payload(stored)
    assert rendered["text"] == "`/suggest mine` lists them"
    assert rendered["blocks"][0]["text"]["text"] == "…and 2 more: `/onboard` shows the full list."
    assert rendered == render(message)
    assert mrkdwn(text("For example ", Command("kudos @ana for untangling the release on Friday"), ".")) == (
        "For example `/kudos @ana for untangling the release on Friday`."
    )


def test_a_part_no_renderer_knows_fails_instead_of_vanishing() -> None:
    @dataclass(frozen=True)
    class Unknown:
        words: str

    odd = Text(("See ", Unknown("pulse"), "."))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mrkdwn(odd)
    with pytest.raises(TypeError):
        hint_text(odd)


def test_a_text_reads_as_words_without_a_renderer() -> None:
    words = text("Ask ", Literal("<@U1>"), ": ", Command("empathy help"), " explains it.")
    assert str(words) == neutral(words) == "Ask <@U1>: `empathy help` explains it."
    assert f"{words}" == str(words)
    assert hint_text(words) == "Ask <@U1>: `/empathy help` explains it."  # the listener escapes the whole reply


def test_the_privacy_export_phrases_its_hints_for_slack(people: None, session_factory: sessionmaker[Session]) -> None:
    from bot.privacy import personal_data

    with session_factory() as session:
        ana = session.scalar(select(Person).where(slack_is("U0ANA")))
        assert ana is not None
        data = personal_data(session, ana, box=SecretBox(SECRET_KEY))
    exported = json.loads(json.dumps(data, default=json_text))
    assert exported["suggestions"]["note"] == (
        "Your suggestions are stored without your name. Only the bot, with its secret key, can find which ones "
        "can reach you, to pass on replies. `/suggest mine` lists them; you can delete any of them."
    )
    with pytest.raises(TypeError):
        json.dumps(data)  # without the platform's phrasing it fails; it never writes a part's fields
    with pytest.raises(TypeError):
        json.dumps({"when": object()}, default=json_text)


# The errors with a hint, as Slack showed them before hints became `Command`s (the stand-ins' `x` where
# a request fills in a reference, a status or a name): the wording did not move by a byte.
SLACK_ERRORS_WITH_HINTS = {
    "I can't find that onboarding task any more; `/onboard` shows the current list.",
    "Who would you like to thank? Mention them with @ so Slack links their name, for example "
    "`/kudos @ana for untangling the release on Friday`.",
    "Tell them what for: a sentence about what they did makes kudos mean much more. For example "
    "`/kudos @ana for untangling the release on Friday`.",
    "I can't find a suggestion `x` of yours. It may be deleted already; `/suggest mine` lists the ones you can "
    "still delete.",
    "Suggestion `x` is no longer there (it may have been deleted), so I can't pass your answer on. `/suggest` "
    "starts a new one.",
    "Suggestion x is closed (x), so replies are off. `/suggest` starts a new one.",
    "Only the suggestion owners (HR, and the people HR named with `/empathy config suggestion-owners`) can do "
    "that for x. Nothing was changed.",
    "The suggestion queue is only for its owners (HR and the people HR named). `/suggest` shares an idea of your own.",
    "Please pick the channel with `#`, for example `#people-team`, so Slack fills in the link. For a private "
    "channel, invite me to it first (`/invite @Empathy Bot`).",
    "I can't find that pulse any more, so nothing was recorded. `/pulse` shows the one open now.",
    "This pulse wasn't sent to you, so I can't record an answer from you. `/pulse` shows any pulse that is yours.",
}


def test_slack_shows_every_error_with_a_hint_word_for_word_as_before() -> None:
    sites, _ = _user_facing_raises()
    shown = {error_text(s.error) for s in sites if any(isinstance(p, Command) for p in s.error.text.parts)}
    assert shown == SLACK_ERRORS_WITH_HINTS


def test_slack_lists_the_settings_with_their_hints_as_before() -> None:
    from bot.kudos.config import KUDOS_LEADERBOARD
    from bot.suggestions.config import SUGGESTION_CATEGORIES

    assert hint_text(KUDOS_LEADERBOARD.description) == (
        "whether `/kudos leaderboard` shows who received most this month (`on`/`off`)"
    )
    assert hint_text(SUGGESTION_CATEGORIES.description) == "the categories people pick from in `/suggest` (comma list)"
