"""The question bank: scales and packs from YAML files (`surveys/scales.yml`, `surveys/packs/*.yml`).

An admin can add a pack from a file; it is validated as a whole and every problem is reported with
its line number.
"""

from __future__ import annotations

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
PACK_KEYS = {"id", "name", "description", "attribution", "licence", "kind", "enabled_by_default", "questions"}
QUESTION_KEYS = {"id", "text", "driver", "scale", "reverse"}
MAX_TEXT = 2000  # Slack allows 3,000 in a section; leave room for the answer shown beneath
_ID = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    score: float


@dataclass(frozen=True)
class Scale:
    id: str
    widget: str
    options: tuple[Option, ...]

    def option(self, value: int) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def score(self, value: int, *, reverse: bool = False) -> float:
        option = self.option(value)
        if option is None:
            raise ValueError(f"{value} is not an option of scale {self.id}")
        return 100.0 - option.score if reverse else option.score


@dataclass(frozen=True)
class Question:
    id: str
    pack_id: str
    text: str
    driver: str
    kind: str
    scale: Scale
    reverse: bool = False

    def render_text(self, company: str) -> str:
        return self.text.replace("{company}", company)


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
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"This question pack was not loaded: {count} problem{'s' if count != 1 else ''}. Fix them and try again."
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


# -- scales ---------------------------------------------------------------------------------------


@cache
def load_scales() -> dict[str, Scale]:
    raw = yaml.safe_load((HERE / "scales.yml").read_text(encoding="utf-8"))
    return {entry["id"]: _scale(entry) for entry in raw}


def _scale(entry: dict[str, Any]) -> Scale:
    values = [o["value"] for o in entry["options"]]
    low, high = min(values), max(values)
    options = tuple(
        Option(
            value=o["value"],
            label=str(o["label"]),
            score=float(o["score"]) if "score" in o else 100.0 * (o["value"] - low) / (high - low),
        )
        for o in entry["options"]
    )
    return Scale(id=entry["id"], widget=entry.get("widget", "buttons"), options=options)


# -- packs ----------------------------------------------------------------------------------------


def parse_pack(text: str, *, scales: dict[str, Scale] | None = None, source: str = "pack") -> Pack:
    """Validate a whole pack file; raise PackError listing every problem with its line."""
    scales = scales if scales is not None else load_scales()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise PackError([f"{where}this is not valid YAML ({getattr(error, 'problem', None) or error})"]) from None
    if not isinstance(root, yaml.MappingNode):
        raise PackError(
            [f"line 1: {source} should be a mapping with id, name, kind, attribution, licence and questions"]
        )
    data = yaml.safe_load(text)
    lines = _key_lines(root)
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        problems.append(f"line {lines.get(key, root.start_mark.line + 1)}: {message}")

    for key in sorted(set(data) - PACK_KEYS):
        problem(key, f"unknown key '{key}'; the keys are {', '.join(sorted(PACK_KEYS))}")
    for key in ("id", "name", "kind", "attribution", "licence", "questions"):
        if not data.get(key):
            problems.append(f"line {root.start_mark.line + 1}: '{key}' is missing")
    pack_id = str(data.get("id") or "")
    if pack_id and not _ID.match(pack_id):
        problem("id", f"pack id '{pack_id}' should be lowercase letters, digits and _ (2–41 characters)")
    kind = str(data.get("kind") or "")
    if kind and kind not in KINDS:
        problem("kind", f"kind '{kind}' isn't one of {', '.join(KINDS)}")
    if "enabled_by_default" in data and not isinstance(data["enabled_by_default"], bool):
        problem("enabled_by_default", "enabled_by_default should be true or false")
    questions = _questions(root, data, pack_id, kind, scales, problems)
    if problems:
        raise PackError(problems)
    return Pack(
        id=pack_id,
        name=str(data["name"]),
        description=str(data.get("description") or ""),
        attribution=str(data["attribution"]),
        licence=str(data["licence"]),
        kind=kind,
        enabled_by_default=bool(data.get("enabled_by_default", False)),
        questions=tuple(questions),
    )


def _key_lines(node: yaml.MappingNode) -> dict[str, int]:
    return {str(k.value): k.start_mark.line + 1 for k, _v in node.value}


def _questions(
    root: yaml.MappingNode, data: dict[str, Any], pack_id: str, kind: str, scales: dict[str, Scale], problems: list[str]
) -> list[Question]:
    node = next((v for k, v in root.value if k.value == "questions"), None)
    raw = data.get("questions")
    if node is None or raw is None:
        return []
    if not isinstance(raw, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(f"line {node.start_mark.line + 1}: questions should be a list")
        return []
    questions: list[Question] = []
    seen: set[str] = set()
    for item_node, item in zip(node.value, raw, strict=True):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            problems.append(f"line {line}: each question should have id, text, driver and scale")
            continue
        before = len(problems)
        for key in sorted(set(item) - QUESTION_KEYS):
            problems.append(
                f"line {line}: unknown key '{key}' in a question; the keys are {', '.join(sorted(QUESTION_KEYS))}"
            )
        for key in ("id", "text", "driver", "scale"):
            if not item.get(key):
                problems.append(f"line {line}: a question is missing '{key}'")
        qid = str(item.get("id") or "")
        if qid and not _ID.match(qid):
            problems.append(f"line {line}: question id '{qid}' should be lowercase letters, digits and _")
        if qid in seen:
            problems.append(f"line {line}: question id '{qid}' is used twice in this pack")
        seen.add(qid)
        text = str(item.get("text") or "")
        if len(text) > MAX_TEXT:
            problems.append(f"line {line}: question '{qid}' has {len(text)} characters; the limit is {MAX_TEXT}")
        scale = scales.get(str(item.get("scale") or ""))
        if item.get("scale") and scale is None:
            problems.append(
                f"line {line}: question '{qid}' uses scale '{item['scale']}', which doesn't exist; use one of {', '.join(scales)}"
            )
        if "reverse" in item and not isinstance(item["reverse"], bool):
            problems.append(f"line {line}: reverse should be true or false")
        if len(problems) == before and scale is not None:
            questions.append(
                Question(
                    id=f"{pack_id}.{qid}",
                    pack_id=pack_id,
                    text=text,
                    driver=str(item["driver"]),
                    kind=kind,
                    scale=scale,
                    reverse=bool(item.get("reverse", False)),
                )
            )
    return questions


@cache
def load_builtin_packs() -> dict[str, Pack]:
    packs = {}
    for pack_id in BUILTIN_ORDER:
        path = HERE / "packs" / f"{pack_id}.yml"
        packs[pack_id] = parse_pack(path.read_text(encoding="utf-8"), source=path.name)
    return packs


class QuestionBank:
    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs: dict[str, Pack] = {p.id: p for p in packs}
        self._questions = {q.id: q for p in self.packs.values() for q in p.questions}

    @classmethod
    @cache
    def builtin(cls) -> QuestionBank:
        return cls(load_builtin_packs().values())

    def with_pack(self, pack: Pack) -> QuestionBank:
        if pack.id in self.packs:
            raise PackError([f"a pack called '{pack.id}' already exists; give yours another id"])
        return QuestionBank([*self.packs.values(), pack])

    def question(self, question_id: str) -> Question | None:
        return self._questions.get(question_id)

    def questions(self, pack_ids: Iterable[str]) -> list[Question]:
        wanted = set(pack_ids)
        unknown = wanted - self.packs.keys()
        if unknown:
            raise KeyError(f"unknown question pack {', '.join(sorted(unknown))}")
        return [q for p in self.packs.values() if p.id in wanted for q in p.questions]

    def default_pack_ids(self) -> list[str]:
        return [p.id for p in self.packs.values() if p.enabled_by_default]
