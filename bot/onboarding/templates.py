"""Onboarding journey templates as YAML: parse and validate (all-or-nothing, line-numbered), and export.

The format is `examples/onboarding.yml`: a top-level `send_time` and a list of
`templates`, each with `name`, `description`, `buddy` and `steps` (`day`, `kind`, `owner`, `text`).
One optional key is ours: `teams`, a list of team names that get the template (a template named
like a team gets that team's new hires without it).

Line numbers come from PyYAML's node marks (`yaml.compose`), so every problem points at the line
HR has to fix; nothing is stored unless the whole file is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.onboarding.models import BuddyRule, StepKind, StepOwner

PLACEHOLDERS = ("new_hire", "manager", "buddy")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
SEND_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_DAY = 365
MAX_STEPS = 40  # one journey's steps must fit App Home and a modal
MAX_TEXT = 500
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
DEFAULT_SEND_TIME = "10:00"


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class TemplateError(Exception):
    """The file (or editor text) is invalid; `problems` says where and why. Nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = [str(p) for p in self.problems[:20]]
        more = len(self.problems) - len(shown)
        suffix = f"\n…and {more} more" if more > 0 else ""
        return "Nothing was changed; please fix:\n" + "\n".join(shown) + suffix


@dataclass(frozen=True)
class StepSpec:
    day: int
    kind: str
    owner: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "kind": self.kind, "owner": self.owner, "text": self.text}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    buddy_rule: str
    steps: tuple[StepSpec, ...]
    teams: tuple[str, ...] = ()
    send_time: str = DEFAULT_SEND_TIME


@dataclass
class TemplateFile:
    send_time: str = DEFAULT_SEND_TIME
    templates: list[TemplateSpec] = field(default_factory=list)


def placeholder_problems(text: str) -> list[str]:
    """`{team}` → "unknown placeholder {team}"; known ones are {new_hire}, {manager}, {buddy}."""
    return [
        f"unknown placeholder {{{name}}} (use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        for name in PLACEHOLDER.findall(text)
        if name not in PLACEHOLDERS
    ]


def render(text: str, values: dict[str, str]) -> str:
    """Fill the placeholders; anything else in braces is left as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _mapping(node: Node) -> dict[str, tuple[Node, Node]]:
    assert isinstance(node, MappingNode)
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}


def parse_templates(text: str) -> TemplateFile:
    """Parse and validate a whole template file; raises TemplateError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise TemplateError([Problem(line, f"this is not valid YAML ({error.problem or 'syntax error'})")]) from None
    except yaml.YAMLError:
        raise TemplateError([Problem(1, "this is not valid YAML")]) from None
    if root is None:
        raise TemplateError([Problem(1, "the file is empty; it needs a `templates:` list")])
    problems: list[Problem] = []
    if not isinstance(root, MappingNode):
        raise TemplateError([Problem(_line(root), "the file must start with `send_time:` and `templates:`")])
    top = _mapping(root)
    for key, (key_node, _) in top.items():
        if key not in ("send_time", "templates"):
            problems.append(Problem(_line(key_node), f"unknown key `{key}` (expected send_time, templates)"))
    result = TemplateFile()
    if "send_time" in top:
        node = top["send_time"][1]
        value = _scalar(node)
        if value is None or not SEND_TIME.match(value):
            problems.append(Problem(_line(node), 'send_time must be a 24-hour time in quotes, like "10:00"'))
        else:
            result.send_time = value
    if "templates" not in top:
        problems.append(Problem(_line(root), "the file needs a `templates:` list"))
        raise TemplateError(problems)
    templates_node = top["templates"][1]
    if not isinstance(templates_node, SequenceNode) or not templates_node.value:
        problems.append(Problem(_line(templates_node), "`templates:` must be a list with at least one template"))
        raise TemplateError(problems)
    seen: dict[str, int] = {}
    for node in templates_node.value:
        spec = _template(node, problems, result.send_time)
        if spec is None:
            continue
        key = spec.name.lower()
        if key in seen:
            problems.append(Problem(_line(node), f"duplicate template name `{spec.name}` (also on line {seen[key]})"))
        else:
            seen[key] = _line(node)
        result.templates.append(spec)
    if problems:
        raise TemplateError(problems)
    return result


TEMPLATE_KEYS = ("name", "description", "buddy", "teams", "steps")
STEP_KEYS = ("day", "kind", "owner", "text")


def _template(node: Node, problems: list[Problem], send_time: str) -> TemplateSpec | None:
    if not isinstance(node, MappingNode):
        problems.append(Problem(_line(node), "each template must be a mapping with name, buddy and steps"))
        return None
    fields = _mapping(node)
    for key, (key_node, _) in fields.items():
        if key not in TEMPLATE_KEYS:
            problems.append(Problem(_line(key_node), f"unknown key `{key}` (expected {', '.join(TEMPLATE_KEYS)})"))
    name = _scalar(fields["name"][1]) if "name" in fields else None
    if not name or not NAME.match(name.strip()):
        line = _line(fields["name"][1]) if "name" in fields else _line(node)
        problems.append(Problem(line, "the template needs a `name`: letters, digits, spaces, - or _, up to 40"))
        name = None
    description = ""
    if "description" in fields:
        description = _scalar(fields["description"][1]) or ""
        if len(description) > 300:
            problems.append(Problem(_line(fields["description"][1]), "description is longer than 300 characters"))
    buddy = BuddyRule.NONE.value
    if "buddy" in fields:
        value = _scalar(fields["buddy"][1])
        if value not in {r.value for r in BuddyRule}:
            problems.append(
                Problem(
                    _line(fields["buddy"][1]),
                    f"unknown buddy rule `{value}` (use {', '.join(r.value for r in BuddyRule)})",
                )
            )
        else:
            buddy = value
    teams: list[str] = []
    if "teams" in fields:
        teams_node = fields["teams"][1]
        values = [_scalar(n) for n in teams_node.value] if isinstance(teams_node, SequenceNode) else None
        if values is None or any(not v for v in values):
            problems.append(Problem(_line(teams_node), "teams must be a list of team names"))
        else:
            teams = [str(v).strip() for v in values]
    steps: list[StepSpec] = []
    if "steps" not in fields:
        problems.append(Problem(_line(node), "the template needs `steps:`"))
    else:
        steps_node = fields["steps"][1]
        if not isinstance(steps_node, SequenceNode) or not steps_node.value:
            problems.append(Problem(_line(steps_node), "`steps:` must be a list with at least one step"))
        else:
            if len(steps_node.value) > MAX_STEPS:
                problems.append(Problem(_line(steps_node), f"a template may have at most {MAX_STEPS} steps"))
            for step_node in steps_node.value:
                step = _step(step_node, problems)
                if step is not None:
                    steps.append(step)
    if name is None:
        return None
    return TemplateSpec(name.strip(), description.strip(), buddy, tuple(steps), tuple(teams), send_time)


def _step(node: Node, problems: list[Problem]) -> StepSpec | None:
    if not isinstance(node, MappingNode):
        problems.append(Problem(_line(node), "each step must be a mapping with day, kind, owner and text"))
        return None
    fields = _mapping(node)
    before = len(problems)
    for key, (key_node, _) in fields.items():
        if key not in STEP_KEYS:
            problems.append(Problem(_line(key_node), f"unknown key `{key}` (expected {', '.join(STEP_KEYS)})"))
    day_raw = _scalar(fields["day"][1]) if "day" in fields else None
    day_line = _line(fields["day"][1]) if "day" in fields else _line(node)
    kind = _scalar(fields["kind"][1]) if "kind" in fields else None
    owner = _scalar(fields["owner"][1]) if "owner" in fields else None
    text = _scalar(fields["text"][1]) if "text" in fields else None
    return _check_step(
        problems,
        before,
        line=_line(node),
        day_raw=day_raw,
        day_line=day_line,
        kind=kind,
        kind_line=_line(fields["kind"][1]) if "kind" in fields else _line(node),
        owner=owner,
        owner_line=_line(fields["owner"][1]) if "owner" in fields else _line(node),
        text=text,
        text_line=_line(fields["text"][1]) if "text" in fields else _line(node),
    )


def _check_step(
    problems: list[Problem],
    before: int,
    *,
    line: int,
    day_raw: str | None,
    day_line: int,
    kind: str | None,
    kind_line: int,
    owner: str | None,
    owner_line: int,
    text: str | None,
    text_line: int,
) -> StepSpec | None:
    """The rules every step follows, from a file or from the App Home editor."""
    day = -1
    if day_raw is None or not re.fullmatch(r"-?\d+", day_raw.strip()):
        problems.append(Problem(day_line, "the step needs a `day`: a whole number of days from the start date"))
    else:
        day = int(day_raw)
        if day < 0:
            problems.append(Problem(day_line, f"negative day {day}: days count from the start date (0 = first day)"))
        elif day > MAX_DAY:
            problems.append(Problem(day_line, f"day {day} is more than a year after the start; use 0 to {MAX_DAY}"))
    if kind not in {k.value for k in StepKind}:
        problems.append(Problem(kind_line, f"unknown step kind `{kind}` (use task or checkin)"))
    if kind == StepKind.CHECKIN.value:
        if owner not in (None, StepOwner.NEW_HIRE.value):
            problems.append(Problem(owner_line, "a check-in always goes to the new hire; leave `owner` out"))
        owner = StepOwner.NEW_HIRE.value
    elif owner not in {o.value for o in StepOwner}:
        problems.append(Problem(owner_line, f"unknown owner `{owner}` (use {', '.join(o.value for o in StepOwner)})"))
    if text is None or not text.strip():
        problems.append(Problem(text_line, "missing text: say what to do or what to ask"))
    else:
        if len(text) > MAX_TEXT:
            problems.append(Problem(text_line, f"text is longer than {MAX_TEXT} characters"))
        problems.extend(Problem(text_line, message) for message in placeholder_problems(text))
    if len(problems) > before:
        return None
    assert kind is not None and owner is not None and text is not None
    return StepSpec(day, kind, owner, " ".join(text.split()))


def parse_step_lines(text: str) -> list[StepSpec]:
    """The App Home editor's steps: one per line, `day | kind | owner | text` (owner may be empty for
    a check-in). Reordering, adding and removing steps is editing these lines."""
    problems: list[Problem] = []
    steps: list[StepSpec] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = [p.strip() for p in raw.split("|", 3)]
        if len(parts) != 4:
            problems.append(Problem(number, "write `day | kind | owner | text`, e.g. `3 | task | buddy | Have lunch`"))
            continue
        day_raw, kind, owner, step_text = parts
        step = _check_step(
            problems,
            len(problems),
            line=number,
            day_raw=day_raw,
            day_line=number,
            kind=kind.lower(),
            kind_line=number,
            owner=owner.lower() or None,
            owner_line=number,
            text=step_text,
            text_line=number,
        )
        if step is not None:
            steps.append(step)
    if not steps and not problems:
        problems.append(Problem(1, "a template needs at least one step"))
    if len(steps) > MAX_STEPS:
        problems.append(Problem(1, f"a template may have at most {MAX_STEPS} steps"))
    if problems:
        raise TemplateError(problems)
    return steps


def step_lines(steps: list[dict[str, Any]]) -> str:
    """The editor's text for `steps` (the inverse of `parse_step_lines`)."""
    return "\n".join(
        f"{s['day']} | {s['kind']} | {'' if s['kind'] == StepKind.CHECKIN.value else s['owner']} | {s['text']}"
        for s in steps
    )


def dump_templates(send_time: str, templates: list[TemplateSpec]) -> str:
    """YAML in the import format; importing it again changes nothing."""
    document: dict[str, Any] = {
        "send_time": send_time,
        "templates": [
            {
                "name": t.name,
                "description": t.description,
                "buddy": t.buddy_rule,
                **({"teams": list(t.teams)} if t.teams else {}),
                "steps": [
                    {"day": s.day, "kind": s.kind, **({"owner": s.owner} if s.kind == "task" else {}), "text": s.text}
                    for s in t.steps
                ],
            }
            for t in templates
        ],
    }
    header = (
        "# Onboarding journeys exported by Empathy Bot. Days count from the new hire's start date;\n"
        "# messages go out at the send time in the new hire's own timezone.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
