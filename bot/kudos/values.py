"""Company values for kudos: parsing what HR types (App Home, one value per line) or imports (YAML),
all-or-nothing with line-numbered problems, and replacing the workspace's list in one go.

A file looks like:

    values:
      - name: Teamwork
        emoji: ":handshake:"
        description: We win together.

In App Home each line is `:emoji: Name - description` (emoji and description optional).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core.audit import record
from bot.core.errors import UserFacingError
from bot.kudos.models import CompanyValue

MAX_VALUES = 20
NAME_LIMIT = 40
DESCRIPTION_LIMIT = 200
EMOJI = re.compile(r"^:[a-z0-9_+'-]{1,60}:$")
LINE = re.compile(r"^(?P<emoji>:[^:\s]+:)?\s*(?P<name>.+?)(?:\s+[-–—]\s+(?P<description>.*))?$")


def tag_for(name: str) -> str:
    """What people type after `#`: "Customer first" -> customer-first."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:NAME_LIMIT]


@dataclass(frozen=True)
class ValueSpec:
    line: int
    name: str
    emoji: str
    description: str


class ValuesError(UserFacingError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "I didn't change the values, because:\n"
            + "\n".join(f"• {p}" for p in problems[:20])
            + ("\n• …and more" if len(problems) > 20 else "")
        )


def parse_lines(text: str) -> list[ValueSpec]:
    specs: list[ValueSpec] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("•*").strip()
        if not line:
            continue
        match = LINE.match(line)
        if match is None or not match.group("name").strip():
            problems.append(f"line {number}: I couldn't find a name; write `:emoji: Name - what it means`")
            continue
        specs.append(
            ValueSpec(
                number,
                match.group("name").strip(),
                match.group("emoji") or "",
                (match.group("description") or "").strip(),
            )
        )
    return check(specs, problems)


def parse_yaml(text: str) -> list[ValueSpec]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise ValuesError([f"line {mark.line + 1 if mark else 1}: this is not valid YAML"]) from None
    except yaml.YAMLError:
        raise ValuesError(["line 1: this is not valid YAML"]) from None
    if not isinstance(root, MappingNode):
        raise ValuesError(["line 1: the file must start with `values:` followed by a list"])
    top = {k.value: v for k, v in root.value if isinstance(k, ScalarNode)}
    listing = top.get("values")
    if not isinstance(listing, SequenceNode):
        raise ValuesError([f"line {_line(root)}: the file needs a `values:` list"])
    specs: list[ValueSpec] = []
    problems: list[str] = []
    for node in listing.value:
        fields = (
            {k.value: v for k, v in node.value if isinstance(k, ScalarNode)} if isinstance(node, MappingNode) else None
        )
        if fields is None:
            problems.append(f"line {_line(node)}: each value needs `name:`, and may have `emoji:` and `description:`")
            continue
        unknown = sorted(set(fields) - {"name", "emoji", "description"})
        if unknown:
            problems.append(f"line {_line(node)}: unknown key `{unknown[0]}` (expected name, emoji, description)")
        specs.append(
            ValueSpec(
                _line(node), _text(fields.get("name")), _text(fields.get("emoji")), _text(fields.get("description"))
            )
        )
    return check(specs, problems)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _text(node: Node | None) -> str:
    return str(node.value).strip() if isinstance(node, ScalarNode) and node.value is not None else ""


def check(specs: list[ValueSpec], problems: list[str]) -> list[ValueSpec]:
    seen: dict[str, int] = {}
    for spec in specs:
        where = f"line {spec.line}"
        tag = tag_for(spec.name)
        if not tag:
            problems.append(f"{where}: a value needs a name with letters or digits")
        elif len(spec.name) > NAME_LIMIT:
            problems.append(f"{where}: `{spec.name[:50]}` is longer than {NAME_LIMIT} characters")
        elif tag in seen:
            problems.append(f"{where}: `{spec.name}` is already on line {seen[tag]}")
        else:
            seen[tag] = spec.line
        if spec.emoji and not EMOJI.match(spec.emoji):
            problems.append(f"{where}: the emoji should look like `:handshake:`")
        if len(spec.description) > DESCRIPTION_LIMIT:
            problems.append(f"{where}: the description is longer than {DESCRIPTION_LIMIT} characters")
    if len(specs) > MAX_VALUES:
        problems.append(f"there are {len(specs)} values; {MAX_VALUES} at most keeps them memorable")
    if problems:
        raise ValuesError(sorted(problems, key=_line_of))
    return specs


def _line_of(problem: str) -> int:
    match = re.match(r"line (\d+)", problem)
    return int(match.group(1)) if match else 0


def replace_values(
    session: Session, workspace_id: int, specs: list[ValueSpec], *, actor_id: int | None, via: str, now: datetime
) -> list[CompanyValue]:
    """The workspace's values become exactly `specs`. Kudos already given keep their tags."""
    session.execute(delete(CompanyValue).where(CompanyValue.workspace_id == workspace_id))
    values = [
        CompanyValue(
            workspace_id=workspace_id,
            tag=tag_for(spec.name),
            name=spec.name,
            emoji=spec.emoji,
            description=spec.description,
            position=position,
        )
        for position, spec in enumerate(specs)
    ]
    session.add_all(values)
    session.flush()
    record(session, workspace_id, actor_id, "kudos.values", f"{len(values)} values", via=via, at=now)
    return values


def value_label(value: CompanyValue) -> str:
    """How a value is shown: its emoji (if any) and its name."""
    return f"{value.emoji} {value.name}".strip()


def as_lines(values: list[CompanyValue]) -> str:
    return "\n".join(
        " ".join(part for part in (v.emoji, v.name) if part) + (f" - {v.description}" if v.description else "")
        for v in values
    )


def as_yaml(values: list[CompanyValue]) -> str:
    rows = [
        {
            "name": v.name,
            **({"emoji": v.emoji} if v.emoji else {}),
            **({"description": v.description} if v.description else {}),
        }
        for v in values
    ]
    return yaml.safe_dump({"values": rows}, sort_keys=False, allow_unicode=True)


def current(session: Session, workspace_id: int) -> list[CompanyValue]:
    return list(
        session.scalars(
            select(CompanyValue).where(CompanyValue.workspace_id == workspace_id).order_by(CompanyValue.position)
        )
    )
