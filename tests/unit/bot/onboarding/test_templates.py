"""Onboarding template files: the example is accepted as it is, bad files are refused as a whole with
line numbers, and export → import is lossless."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.onboarding.templates import (
    StepSpec,
    TemplateError,
    TemplateSpec,
    dump_templates,
    parse_step_lines,
    parse_templates,
    render,
    step_lines,
)
from tests.support.paths import ROOT

EXAMPLE = ROOT / "examples" / "onboarding.yml"


def test_the_example_file_is_accepted_exactly() -> None:
    parsed = parse_templates(EXAMPLE.read_text())
    assert parsed.send_time == "10:00"
    assert [t.name for t in parsed.templates] == ["default", "sales"]
    default, sales = parsed.templates
    assert default.buddy_rule == "random_from_team" and sales.buddy_rule == "manager_picks"
    assert [s.day for s in default.steps] == [0, 0, 1, 3, 7, 30, 60, 90]
    assert default.steps[1] == StepSpec(0, "task", "manager", "Introduce {new_hire} to the team in the team channel")
    assert default.steps[2].owner == "new_hire"  # a check-in always goes to the new hire


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(TemplateError) as caught:
        parse_templates(text)
    return [(p.line, p.message) for p in caught.value.problems]


BAD = """\
send_time: "10:00"
templates:
  - name: default
    buddy: random_from_team
    steps:
      - day: -2
        kind: task
        owner: new_hire
        text: Set up your laptop
      - day: 1
        kind: task
        owner: ceo
        text: Say hello
      - day: 2
        kind: checkin
        text: ""
      - day: 3
        kind: task
        owner: buddy
        text: Coffee with {new_hire} and {team}
  - name: Default
    steps:
      - day: 0
        kind: task
        owner: hr
        text: Badge
"""


def test_every_problem_is_reported_with_its_line() -> None:
    found = problems(BAD)
    assert (6, "negative day -2: days count from the start date (0 = first day)") in found
    assert any(line == 12 and "unknown owner `ceo`" in message for line, message in found)
    assert any(line == 16 and message.startswith("missing text") for line, message in found)
    assert any(line == 20 and "unknown placeholder {team}" in message for line, message in found)
    assert any(line == 21 and "duplicate template name `Default`" in message for line, message in found)
    assert [line for line, _ in found] == sorted(line for line, _ in found)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("templates: [\n  {name: x\n", 3, "not valid YAML"),
        ("", 1, "empty"),
        (
            'send_time: "25:00"\ntemplates:\n  - name: a\n    steps: [{day: 0, kind: task, owner: hr, text: t}]\n',
            1,
            "send_time",
        ),
        (
            "templates:\n  - name: a\n    buddy: best_friend\n    steps: [{day: 0, kind: task, owner: hr, text: t}]\n",
            3,
            "unknown buddy rule",
        ),
        (
            "templates:\n  - name: a\n    steps:\n      - {day: 0, kind: task, owner: hr, text: t, colour: red}\n",
            4,
            "unknown key `colour`",
        ),
        ("templates:\n  - name: a\n    steps:\n      - {day: 1, kind: survey, text: t}\n", 4, "unknown step kind"),
        (
            "templates:\n  - name: a\n    steps:\n      - {day: 1, kind: checkin, owner: manager, text: t}\n",
            4,
            "check-in always",
        ),
        ("templates:\n  - name: a\n", 2, "needs `steps:`"),
    ],
)
def test_single_problems(text: str, line: int, fragment: str) -> None:
    found = problems(text)
    assert any(at == line and fragment in message for at, message in found), found


def test_editor_lines_are_validated_with_line_numbers() -> None:
    with pytest.raises(TemplateError) as caught:
        parse_step_lines("0 | task | new_hire | Laptop\n\n-1 | task | hr | Badge\n2 | checkin | | {boss}?\njust text")
    assert [p.line for p in caught.value.problems] == [3, 4, 5]
    steps = parse_step_lines("0 | task | new_hire | Laptop\n7 | checkin | | How is it going?")
    assert steps == [StepSpec(0, "task", "new_hire", "Laptop"), StepSpec(7, "checkin", "new_hire", "How is it going?")]
    assert parse_step_lines(step_lines([s.as_dict() for s in steps])) == steps


def test_render_fills_known_placeholders_only() -> None:
    assert render("Hi {new_hire}, meet {buddy} {x}", {"new_hire": "Ana", "buddy": "Chen"}) == "Hi Ana, meet Chen {x}"


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}|"), min_size=1, max_size=60
).filter(lambda t: t.strip() != "")
steps = st.builds(
    lambda day, kind, owner, text: StepSpec(
        day, kind, "new_hire" if kind == "checkin" else owner, " ".join(text.split())
    ),
    st.integers(0, 365),
    st.sampled_from(["task", "checkin"]),
    st.sampled_from(["new_hire", "manager", "buddy", "hr"]),
    texts,
)
templates = st.builds(
    lambda name, description, buddy, steps: TemplateSpec(name, description, buddy, tuple(steps), (), "09:30"),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,20}[A-Za-z0-9]", fullmatch=True),
    st.sampled_from(["", "First weeks", "Ramp-up: sales"]),
    st.sampled_from(["random_from_team", "manager_picks", "none"]),
    st.lists(steps, min_size=1, max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(templates, min_size=1, max_size=3, unique_by=lambda t: t.name.lower()))
def test_export_then_import_gives_back_the_same_templates(specs: list[TemplateSpec]) -> None:
    parsed = parse_templates(dump_templates("09:30", specs))
    assert parsed.templates == specs
