"""The question bank: answer scales and question packs, kept as YAML data (`surveys/scales.yml`, `surveys/packs/*.yml`).

Built-in packs ship with the code. An admin may also load a pack from a file (for instance a licensed instrument we
may not ship); `parse_pack` checks the whole file and reports every problem at once, each with its line number, so
one round of fixes is enough.

Scores: every answer option has a score on 0–100. Scales may set it per option (the CBI's 100/75/50/25/0); otherwise
the options map linearly, lowest value → 0, highest → 100. A reverse-scored question scores 100 − score.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
BUILTIN_ORDER = ("engagement", "recommend", "burnout_single", "cbi_work", "who5")
KINDS = ("engagement", "recommend", "burnout", "wellbeing")
PACK_KEYS = ("id", "name", "description", "attribution", "licence", "kind", "enabled_by_default", "questions")
REQUIRED_PACK_KEYS = ("id", "name", "kind", "attribution", "licence", "questions")
QUESTION_KEYS = ("id", "text", "driver", "scale", "reverse")
REQUIRED_QUESTION_KEYS = ("id", "text", "driver", "scale")
MAX_LABEL = 75  # Slack's limit for button and option text
MAX_BUTTONS = 6  # more options than this are shown as a select menu
MAX_TEXT = 2000  # built-in questions: a Slack section holds 3,000 characters; leave room for what goes around it
MAX_CUSTOM_TEXT = 500  # custom packs: short questions read well in a DM
MAX_PACK_CHARS = 100_000
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_HINTS = {
    "id": "a short lowercase name such as 'team_health'",
    "name": "the title people will see",
    "kind": f"one of {', '.join(KINDS)}",
    "attribution": "who wrote these questions (cite the paper for a published instrument)",
    "licence": "the terms under which these questions may be used",
    "questions": "a list of questions, each with id, text, driver and scale",
}


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    score: float  # 0–100, explicit in scales.yml or linear across the scale


@dataclass(frozen=True)
class Scale:
    id: str
    widget: str  # "buttons" (≤ 6 options) or "select"
    options: tuple[Option, ...]

    def option(self, value: int) -> Option | None:
        if isinstance(value, bool):
            return None
        return next((o for o in self.options if o.value == value), None)

    def score(self, value: int, *, reverse: bool = False) -> float:
        """The answer's score on 0–100; reverse-scored questions get 100 − score."""
        option = self.option(value)
        if option is None:
            raise ValueError(f"{value!r} is not an answer on scale {self.id}")
        return 100.0 - option.score if reverse else option.score


@dataclass(frozen=True)
class Question:
    id: str  # global: "<pack id>.<question id>"
    pack_id: str
    text: str
    driver: str
    kind: str  # the pack's kind
    scale: Scale
    reverse: bool = False

    def render_text(self, company: str) -> str:
        return self.text.replace("{company}", company)

    def score(self, value: int) -> float:
        return self.scale.score(value, reverse=self.reverse)


@dataclass(frozen=True)
class Pack:
    id: str
    name: str
    description: str
    attribution: str
    licence: str
    kind: str
    enabled_by_default: bool
    questions: tuple[Question, ...]


class PackError(Exception):
    """A pack that was not loaded. `problems` lists every problem found, each "line N: …" where the line is known."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"This question pack was not loaded: {count} problem{'' if count == 1 else 's'}. Fix them and try again."
        return "\n".join([head, *(f"• {p}" for p in self.problems)])


# -- scales ---------------------------------------------------------------------------------------


@cache
def load_scales() -> dict[str, Scale]:
    """The answer scales from surveys/scales.yml, by id. A malformed file is a bug, so it raises ValueError."""
    raw = yaml.safe_load((HERE / "scales.yml").read_text(encoding="utf-8"))
    scales: dict[str, Scale] = {}
    for entry in raw:
        scale = _scale(entry)
        if scale.id in scales:
            raise ValueError(f"scales.yml: scale {scale.id} is defined twice")
        scales[scale.id] = scale
    return scales


def _scale(entry: dict[str, Any]) -> Scale:
    scale_id = entry["id"]
    raw_options = entry["options"]
    values = [o["value"] for o in raw_options]
    if len(values) < 2 or len(set(values)) != len(values) or not all(type(v) is int for v in values):
        raise ValueError(f"scales.yml: scale {scale_id} needs two or more distinct integer values")
    low, high = min(values), max(values)
    options = tuple(
        Option(
            value=o["value"],
            label=str(o["label"]),
            score=float(o["score"]) if "score" in o else 100.0 * (o["value"] - low) / (high - low),
        )
        for o in raw_options
    )
    widget = "buttons" if len(options) <= MAX_BUTTONS else "select"
    if entry.get("widget", widget) != widget:
        raise ValueError(f"scales.yml: scale {scale_id} has {len(options)} options, so its widget must be {widget}")
    for option in options:
        if not 0 < len(option.label) <= MAX_LABEL:
            raise ValueError(f"scales.yml: scale {scale_id} label {option.label!r} must be 1–{MAX_LABEL} characters")
        if not 0.0 <= option.score <= 100.0:
            raise ValueError(f"scales.yml: scale {scale_id} score {option.score} is outside 0–100")
    return Scale(id=scale_id, widget=widget, options=options)


# -- packs ----------------------------------------------------------------------------------------


def parse_pack(
    text: str,
    *,
    scales: dict[str, Scale] | None = None,
    source: str = "pack",
    max_text: int = MAX_CUSTOM_TEXT,
) -> Pack:
    """Check a whole pack file and build the Pack; raise PackError listing every problem with its line."""
    scales = load_scales() if scales is None else scales
    if len(text) > MAX_PACK_CHARS:
        raise PackError([f"{source} is {len(text):,} characters long; a pack file can be at most {MAX_PACK_CHARS:,}"])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise PackError([f"{where}{source} is not valid YAML ({reason})"]) from None
    if root is None:
        raise PackError([f"line 1: {source} is empty; a pack needs {', '.join(REQUIRED_PACK_KEYS)}"])
    if not isinstance(root, yaml.MappingNode):
        raise PackError(
            [
                f"line {_line(root)}: {source} should be a set of 'key: value' lines "
                f"({', '.join(REQUIRED_PACK_KEYS)}), not {_describe(root)}"
            ]
        )
    return _PackReader(root, scales, max_text).read()


class _PackReader:
    def __init__(self, root: yaml.MappingNode, scales: dict[str, Scale], max_text: int) -> None:
        self.root = root
        self.scales = scales
        self.max_text = max_text
        self.problems: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append((line, message))

    def read(self) -> Pack:
        fields = self.fields(self.root, PACK_KEYS, "the pack")
        for key in REQUIRED_PACK_KEYS:
            if key not in fields:
                self.add(_line(self.root), f"the pack has no '{key}'; add {_HINTS[key]}")

        pack_id = self.string(fields, "id", "the pack's id")
        if pack_id is not None and not ID_PATTERN.match(pack_id):
            self.add(
                _line(fields["id"]),
                f"pack id '{pack_id}' should start with a lowercase letter and use only lowercase letters, "
                f"digits and _ (2–41 characters), for example '{_slug(pack_id)}'",
            )
        name = self.string(fields, "name", "the pack's name")
        if name is not None and len(name) > MAX_LABEL:
            self.add(_line(fields["name"]), f"the pack's name is {len(name)} characters; keep it to {MAX_LABEL}")
        description = self.string(fields, "description", "the description") or ""
        attribution = self.string(fields, "attribution", "the attribution")
        licence = self.string(fields, "licence", "the licence")
        kind = self.string(fields, "kind", "kind")
        if kind is not None and kind not in KINDS:
            self.add(_line(fields["kind"]), f"kind '{kind}' isn't one we know; use one of {', '.join(KINDS)}")
        enabled = self.boolean(fields, "enabled_by_default", "enabled_by_default")
        questions = self.questions(fields.get("questions"), pack_id or "", kind or "")

        if self.problems:
            raise PackError([f"line {line}: {message}" for line, message in sorted(self.problems, key=lambda p: p[0])])
        assert pack_id and name and attribution and licence and kind
        return Pack(
            id=pack_id,
            name=name,
            description=description,
            attribution=attribution,
            licence=licence,
            kind=kind,
            enabled_by_default=bool(enabled),
            questions=tuple(questions),
        )

    # -- fields -----------------------------------------------------------------------------------

    def fields(self, mapping: yaml.MappingNode, known: tuple[str, ...], where: str) -> dict[str, yaml.Node]:
        """Value nodes by key; reports keys that are not plain words, repeated or unknown."""
        fields: dict[str, yaml.Node] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in mapping.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                self.add(_line(key_node), f"{where} has a key that isn't a plain word; use one of {', '.join(known)}")
                continue
            key = key_node.value
            if key in first_line:
                self.add(
                    _line(key_node), f"'{key}' appears twice in {where} (first on line {first_line[key]}); keep one"
                )
                continue
            first_line[key] = _line(key_node)
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.add(_line(key_node), f"unknown key '{key}' in {where}; {hint}the keys are {', '.join(known)}")
                continue
            if isinstance(value_node, yaml.ScalarNode) and value_node.tag == _NULL_TAG:
                continue  # "key:" with nothing after it counts as missing
            fields[key] = value_node
        return fields

    def string(self, fields: dict[str, yaml.Node], key: str, what: str) -> str | None:
        node = fields.get(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.add(_line(node), f"{what} should be a piece of text, not {_describe(node)}")
            return None
        value = node.value.strip()
        if not value:
            self.add(_line(node), f"{what} is empty")
            return None
        return value

    def boolean(self, fields: dict[str, yaml.Node], key: str, what: str) -> bool | None:
        node = fields.get(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL_TAG:
            if isinstance(node, yaml.ScalarNode) and node.style and node.value.lower() in ("true", "false"):
                self.add(_line(node), f"{what} should be true or false without quotes")
            else:
                self.add(_line(node), f"{what} should be true or false, not {_describe(node)}")
            return None
        return yaml.safe_load(node.value) is True

    # -- questions --------------------------------------------------------------------------------

    def questions(self, node: yaml.Node | None, pack_id: str, kind: str) -> list[Question]:
        if node is None:
            return []  # already reported as missing
        if not isinstance(node, yaml.SequenceNode):
            self.add(
                _line(node), f"'questions' should be a list (one '- id: …' entry per question), not {_describe(node)}"
            )
            return []
        if not node.value:
            self.add(_line(node), "the pack has no questions; add at least one under 'questions'")
            return []
        questions: list[Question] = []
        seen: dict[str, int] = {}
        for number, item in enumerate(node.value, start=1):
            question = self.question(item, number, pack_id, kind, seen)
            if question is not None:
                questions.append(question)
        return questions

    def question(self, item: yaml.Node, number: int, pack_id: str, kind: str, seen: dict[str, int]) -> Question | None:
        if not isinstance(item, yaml.MappingNode):
            self.add(_line(item), f"question {number} should have id, text, driver and scale, not {_describe(item)}")
            return None
        before = len(self.problems)
        fields = self.fields(item, QUESTION_KEYS, f"question {number}")
        qid = self.string(fields, "id", f"question {number}'s id")
        label = f"question '{qid}'" if qid else f"question {number}"
        for key in REQUIRED_QUESTION_KEYS:
            if key not in fields:
                self.add(_line(item), f"{label} has no '{key}'")
        if qid is not None:
            if not ID_PATTERN.match(qid):
                self.add(
                    _line(fields["id"]),
                    f"question id '{qid}' should start with a lowercase letter and use only lowercase letters, "
                    f"digits and _ (2–41 characters), for example '{_slug(qid)}'",
                )
            if qid in seen:
                self.add(
                    _line(fields["id"]),
                    f"question id '{qid}' is used twice in this pack (first on line {seen[qid]}); ids must be unique",
                )
            else:
                seen[qid] = _line(fields["id"])
        text = self.string(fields, "text", f"the text of {label}")
        if text is not None and len(text) > self.max_text:
            self.add(
                _line(fields["text"]),
                f"the text of {label} is {len(text):,} characters; keep it to {self.max_text:,} or fewer",
            )
        driver = self.string(fields, "driver", f"the driver of {label}")
        if driver is not None and not ID_PATTERN.match(driver):
            self.add(
                _line(fields["driver"]),
                f"{label} has driver '{driver}'; a driver is a short lowercase name such as '{_slug(driver)}'",
            )
        scale_id = self.string(fields, "scale", f"the scale of {label}")
        scale = self.scales.get(scale_id) if scale_id is not None else None
        if scale_id is not None and scale is None:
            self.add(
                _line(fields["scale"]),
                f"{label} uses scale '{scale_id}', which doesn't exist; use one of {', '.join(sorted(self.scales))}",
            )
        reverse = self.boolean(fields, "reverse", f"reverse in {label}")
        if len(self.problems) > before or not (qid and text and driver and scale):
            return None
        return Question(
            id=f"{pack_id}.{qid}",
            pack_id=pack_id,
            text=text,
            driver=driver,
            kind=kind,
            scale=scale,
            reverse=bool(reverse),
        )


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a set of 'key: value' lines"
    return f"'{node.value}'"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"x_{slug}".rstrip("_")
    return slug[:41] if len(slug) >= 2 else f"{slug}_1"


@cache
def load_builtin_packs() -> dict[str, Pack]:
    """The packs that ship with the bot, in BUILTIN_ORDER."""
    packs: dict[str, Pack] = {}
    for pack_id in BUILTIN_ORDER:
        path = HERE / "packs" / f"{pack_id}.yml"
        packs[pack_id] = parse_pack(path.read_text(encoding="utf-8"), source=path.name, max_text=MAX_TEXT)
    return packs


# -- the bank -------------------------------------------------------------------------------------


class QuestionBank:
    """Packs in order, and their questions by global id."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs: dict[str, Pack] = {}
        for pack in packs:
            if pack.id in self.packs:
                raise PackError([_clash(self.packs[pack.id])])
            self.packs[pack.id] = pack
        self._questions = {q.id: q for p in self.packs.values() for q in p.questions}

    @classmethod
    def builtin(cls) -> QuestionBank:
        return cls(load_builtin_packs().values())

    def with_pack(self, pack: Pack) -> QuestionBank:
        """A new bank with a custom pack added at the end; PackError if its id is taken."""
        if pack.id in self.packs:
            raise PackError([_clash(self.packs[pack.id])])
        return QuestionBank([*self.packs.values(), pack])

    def question(self, question_id: str) -> Question | None:
        return self._questions.get(question_id)

    def questions(self, pack_ids: Iterable[str]) -> list[Question]:
        """The packs' questions in bank order, then file order. KeyError names any unknown pack."""
        wanted = {pack_ids} if isinstance(pack_ids, str) else set(pack_ids)
        unknown = sorted(wanted - self.packs.keys())
        if unknown:
            raise KeyError(
                f"unknown question pack {', '.join(repr(u) for u in unknown)}; the packs are {', '.join(self.packs)}"
            )
        return [q for p in self.packs.values() if p.id in wanted for q in p.questions]

    def default_pack_ids(self) -> list[str]:
        return [p.id for p in self.packs.values() if p.enabled_by_default]


def _clash(existing: Pack) -> str:
    return f"there is already a pack with id '{existing.id}' ({existing.name}); give yours a different id"
