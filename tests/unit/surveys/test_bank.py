"""The question bank: built-in packs, scoring, Slack limits, and line-numbered checks on custom packs."""

from __future__ import annotations

import ast
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.bank import (
    MAX_LABEL,
    Pack,
    PackError,
    QuestionBank,
    load_builtin_packs,
    load_scales,
    parse_pack,
)
from tests.support.paths import ROOT

CBI_WORK = [
    ("Is your work emotionally exhausting?", "cbi_degree5"),
    ("Do you feel burnt out because of your work?", "cbi_degree5"),
    ("Does your work frustrate you?", "cbi_degree5"),
    ("Do you feel worn out at the end of the working day?", "cbi_frequency5"),
    ("Are you exhausted in the morning at the thought of another day at work?", "cbi_frequency5"),
    ("Do you feel that every working hour is tiring for you?", "cbi_frequency5"),
    ("Do you have enough energy for family and friends during leisure time?", "cbi_frequency5"),
]
DRIVERS = {
    "recognition",
    "growth",
    "manager_support",
    "peers",
    "alignment",
    "autonomy",
    "workload",
    "meaningful_work",
}

CUSTOM = """\
id: team_health
name: Team health
description: A few questions of our own.
attribution: Acme People team
licence: Internal use
kind: engagement
questions:
  - id: safety
    text: I can raise a problem in my team without fear.
    driver: psychological_safety
    scale: agree5
  - id: tools
    text: I have the tools I need to do my job at {company}.
    driver: tools
    scale: agree5
    reverse: false
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(PackError) as caught:
        parse_pack(text)
    return caught.value.problems


def with_line(text: str, line: int, new: str) -> str:
    """CUSTOM with its 1-based line `line` replaced by `new` (which may hold several lines, or none)."""
    lines = text.splitlines()
    lines[line - 1 : line] = new.splitlines()
    return "\n".join(lines) + "\n"


# -- built-in packs -------------------------------------------------------------------------------


def test_builtin_packs_load_in_order() -> None:
    packs = load_builtin_packs()
    assert list(packs) == ["engagement", "recommend", "burnout_single", "cbi_work", "who5"]
    assert load_builtin_packs() is packs  # cached
    for pack in packs.values():
        assert pack.name and pack.description and pack.attribution and pack.licence
        assert all(
            q.id.startswith(f"{pack.id}.") and q.pack_id == pack.id and q.kind == pack.kind for q in pack.questions
        )


def test_engagement_pack_has_two_items_per_driver() -> None:
    pack = load_builtin_packs()["engagement"]
    assert pack.kind == "engagement" and pack.enabled_by_default
    assert len(pack.questions) == 16
    assert Counter(q.driver for q in pack.questions) == dict.fromkeys(DRIVERS, 2)
    assert {q.scale.id for q in pack.questions} == {"agree5"}
    assert all(q.driver == "workload" for q in pack.questions if q.reverse)
    assert pack.attribution.startswith("Empathy Bot authors, released under the project licence")


def test_recommend_pack() -> None:
    pack = load_builtin_packs()["recommend"]
    (question,) = pack.questions
    assert (pack.kind, question.driver, question.scale.id) == ("recommend", "recommend", "recommend11")
    assert question.render_text("Acme") == "How likely are you to recommend Acme as a place to work?"
    assert "net promoter" not in question.text.lower()
    assert "recommend score" in pack.name.lower()


def test_single_item_burnout_pack_puts_the_statements_in_the_text() -> None:
    pack = load_builtin_packs()["burnout_single"]
    (question,) = pack.questions
    assert (pack.kind, question.driver, question.scale.id) == ("burnout", "burnout", "burnout_single5")
    lines = question.text.splitlines()
    assert lines[0] == "Overall, based on your own definition of burnout, how would you rate your level of burnout?"
    assert len(lines) == 6
    assert lines[1].startswith("1") and lines[1].endswith("I enjoy my work. I have no symptoms of burnout.")
    assert lines[5].startswith("5") and lines[5].endswith(
        "I feel completely burned out and often wonder if I can go on. "
        "I am at the point where I may need some changes or may need to seek some sort of help."
    )
    assert [o.label for o in question.scale.options] == ["1", "2", "3", "4", "5"]


def test_cbi_work_items_are_verbatim_and_only_item_7_is_reversed() -> None:
    pack = load_builtin_packs()["cbi_work"]
    assert pack.kind == "burnout"
    assert [(q.text, q.scale.id) for q in pack.questions] == CBI_WORK
    assert [q.reverse for q in pack.questions] == [False] * 6 + [True]
    assert {q.driver for q in pack.questions} == {"burnout"}
    assert "Kristensen" in pack.attribution and "Work & Stress" in pack.attribution
    assert "verbatim" in pack.licence.lower()


def test_who5_is_optional() -> None:
    pack = load_builtin_packs()["who5"]
    assert (pack.kind, pack.enabled_by_default, len(pack.questions)) == ("wellbeing", False, 5)
    assert all(q.text.startswith("Over the last two weeks, ") for q in pack.questions)
    assert {(q.driver, q.scale.id) for q in pack.questions} == {("wellbeing", "who5_6")}
    assert "WHO" in pack.attribution


def test_bank_lookups() -> None:
    bank = QuestionBank.builtin()
    assert bank.default_pack_ids() == ["engagement", "recommend", "burnout_single", "cbi_work"]
    assert bank.question("cbi_work.cbi_w7").reverse
    assert bank.question("cbi_work.nope") is None
    picked = bank.questions(["who5", "recommend"])
    assert [q.pack_id for q in picked] == ["recommend"] + ["who5"] * 5  # bank order, then file order
    assert len(bank.questions(bank.packs)) == 16 + 1 + 1 + 7 + 5
    with pytest.raises(KeyError, match="gallup_q12"):
        bank.questions(["engagement", "gallup_q12"])


def test_the_package_does_not_touch_slack_or_handlers() -> None:
    for path in ROOT.joinpath("surveys").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("slack_bolt", "slack_sdk", "handlers")), f"{path.name} imports {name}"


# -- scales and scoring ---------------------------------------------------------------------------


def test_cbi_scores() -> None:
    scales = load_scales()
    degree, frequency = scales["cbi_degree5"], scales["cbi_frequency5"]
    assert [o.label for o in degree.options] == [
        "To a very high degree",
        "To a high degree",
        "Somewhat",
        "To a low degree",
        "To a very low degree",
    ]
    assert [o.label for o in frequency.options][-1] == "Never/almost never"
    assert [degree.score(v) for v in range(1, 6)] == [100, 75, 50, 25, 0]
    assert [frequency.score(v) for v in range(1, 6)] == [100, 75, 50, 25, 0]
    assert degree.score(1, reverse=True) == 0
    assert frequency.score(2, reverse=True) == 25
    item7 = QuestionBank.builtin().question("cbi_work.cbi_w7")
    assert item7 is not None and item7.score(1) == 0  # "Always" enough energy is the least burnt out


def test_linear_scores() -> None:
    scales = load_scales()
    assert [scales["agree5"].score(v) for v in range(1, 6)] == [0, 25, 50, 75, 100]
    assert scales["agree5"].score(5, reverse=True) == 0
    assert [scales["recommend11"].score(v) for v in range(11)] == [10.0 * v for v in range(11)]
    who5 = scales["who5_6"]
    assert [o.value for o in who5.options] == [5, 4, 3, 2, 1, 0]  # display order: "All of the time" first
    assert (who5.score(5), who5.score(0)) == (100, 0)
    assert [scales["burnout_single5"].score(v) for v in range(1, 6)] == [0, 25, 50, 75, 100]


def test_unknown_answers_are_refused() -> None:
    agree = load_scales()["agree5"]
    assert agree.option(6) is None
    for value in (0, 6, True):
        with pytest.raises(ValueError, match="agree5"):
            agree.score(value)


def test_slack_limits() -> None:
    for scale in load_scales().values():
        assert all(0 < len(o.label) <= MAX_LABEL for o in scale.options), scale.id
        assert scale.widget == ("select" if len(scale.options) > 6 else "buttons"), scale.id
        assert len({o.value for o in scale.options}) == len(scale.options)
    assert load_scales()["recommend11"].widget == "select"
    for question in QuestionBank.builtin().questions(load_builtin_packs()):
        assert len(question.render_text("A company with a long name, Incorporated")) <= 2000, question.id


BUILTIN_ANSWERS = [
    (question, option.value)
    for question in QuestionBank.builtin().questions(load_builtin_packs())
    for option in question.scale.options
]


@given(st.sampled_from(BUILTIN_ANSWERS))
def test_every_builtin_answer_scores_within_0_to_100(answer: tuple) -> None:
    question, value = answer
    score = question.scale.score(value)
    assert 0 <= score <= 100
    assert question.scale.score(value, reverse=True) == 100 - score
    assert question.score(value) == (100 - score if question.reverse else score)


# -- custom packs ---------------------------------------------------------------------------------


def test_a_custom_pack_loads_and_joins_the_bank() -> None:
    pack = parse_pack(CUSTOM)
    assert (pack.id, pack.kind, pack.enabled_by_default) == ("team_health", "engagement", False)
    assert [q.id for q in pack.questions] == ["team_health.safety", "team_health.tools"]
    bank = QuestionBank.builtin().with_pack(pack)
    assert list(bank.packs)[-1] == "team_health"
    assert bank.question("team_health.tools").render_text("Acme") == "I have the tools I need to do my job at Acme."
    assert [q.id for q in bank.questions(["team_health"])] == ["team_health.safety", "team_health.tools"]
    assert "team_health" not in QuestionBank.builtin().packs  # the built-in bank is untouched
    assert "team_health" not in bank.default_pack_ids()


def test_a_pack_id_that_is_taken_is_refused() -> None:
    pack = parse_pack(CUSTOM.replace("id: team_health", "id: cbi_work"))
    with pytest.raises(PackError, match="already a pack with id 'cbi_work'"):
        QuestionBank.builtin().with_pack(pack)
    with pytest.raises(PackError):
        QuestionBank([pack, pack])


@pytest.mark.parametrize(
    ("line", "new", "expected"),
    [
        (1, "", "line 1: the pack has no 'id'"),
        (2, "", "line 1: the pack has no 'name'"),
        (4, "", "line 1: the pack has no 'attribution'"),
        (5, "", "line 1: the pack has no 'licence'"),
        (6, "", "line 1: the pack has no 'kind'"),
        (1, "id: Team Health", "line 1: pack id 'Team Health' should start with a lowercase letter"),
        (1, "id: t", "line 1: pack id 't' should start"),
        (6, "kind: happiness", "line 6: kind 'happiness' isn't one we know; use one of engagement, recommend,"),
        (6, "kind: engagement\ncolour: blue", "line 7: unknown key 'colour' in the pack"),
        (6, "kind: engagement\nlicense: MIT", "line 7: unknown key 'license' in the pack; did you mean 'licence'?"),
        (6, "kind: engagement\nenabled_by_default: maybe", "line 7: enabled_by_default should be true or false"),
        (2, "name: Team health\nname: Again", "line 3: 'name' appears twice in the pack (first on line 2)"),
        (8, "  - id: tools", "line 12: question id 'tools' is used twice in this pack (first on line 8)"),
        (8, "  - id: Q1", "line 8: question id 'Q1' should start with a lowercase letter"),
        (8, "  - idd: safety", "line 8: unknown key 'idd' in question 1; did you mean 'id'?"),
        (8, "  - scale: agree5", "line 8: question 1 has no 'id'"),
        (9, "", "line 8: question 'safety' has no 'text'"),
        (10, "", "line 8: question 'safety' has no 'driver'"),
        (11, "", "line 8: question 'safety' has no 'scale'"),
        (10, "    driver: Psychological Safety", "line 10: question 'safety' has driver 'Psychological Safety'"),
        (
            11,
            "    scale: agree7",
            "line 11: question 'safety' uses scale 'agree7', which doesn't exist; use one of agree5, burnout_single5, "
            "cbi_degree5, cbi_frequency5, recommend11, who5_6",
        ),
        (16, "    reverse: sometimes", "line 16: reverse in question 'tools' should be true or false, not 'sometimes'"),
        (16, '    reverse: "false"', "line 16: reverse in question 'tools' should be true or false without quotes"),
        (9, f"    text: {'x' * 501}", "line 9: the text of question 'safety' is 501 characters; keep it to 500"),
        (2, "name: [a, b]", "line 2: the pack's name should be a piece of text, not a list"),
        (2, "name:", "line 1: the pack has no 'name'"),
    ],
)
def test_each_problem_is_reported_with_its_line(line: int, new: str, expected: str) -> None:
    found = problems_of(with_line(CUSTOM, line, new))
    assert any(p.startswith(expected) for p in found), found


HEAD = CUSTOM.split("questions:")[0]


@pytest.mark.parametrize(
    ("questions", "expected"),
    [
        ("questions: []", "line 7: the pack has no questions; add at least one under 'questions'"),
        ("questions: all of them", "line 7: 'questions' should be a list"),
        ("questions:\n  - just a sentence", "line 8: question 1 should have id, text, driver and scale"),
        ("questions:", "line 1: the pack has no 'questions'; add a list of questions"),
    ],
)
def test_problems_with_the_question_list(questions: str, expected: str) -> None:
    found = problems_of(HEAD + questions + "\n")
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    text = with_line(with_line(with_line(CUSTOM, 11, "    scale: agree7"), 6, "kind: vibes"), 2, "")
    with pytest.raises(PackError) as caught:
        parse_pack(text)
    error = caught.value
    assert error.problems == [
        "line 1: the pack has no 'name'; add the title people will see",
        "line 5: kind 'vibes' isn't one we know; use one of engagement, recommend, burnout, wellbeing",
        "line 10: question 'safety' uses scale 'agree7', which doesn't exist; use one of agree5, burnout_single5, "
        "cbi_degree5, cbi_frequency5, recommend11, who5_6",
    ]
    message = str(error)
    assert message.splitlines()[0] == "This question pack was not loaded: 3 problems. Fix them and try again."
    assert all(p in message for p in error.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: pack is empty"),
        ("- id: x\n- id: y\n", "line 1: pack should be a set of 'key: value' lines"),
        ("just words\n", "line 1: pack should be a set of 'key: value' lines"),
        ("id: x\nname: [unclosed\nkind: burnout\n", "is not valid YAML"),
        ("id: x\n\tname: tab\n", "line 2: pack is not valid YAML"),
    ],
)
def test_files_that_are_not_packs(text: str, expected: str) -> None:
    (problem,) = problems_of(text)
    assert expected in problem


def test_custom_scales_can_be_passed_in() -> None:
    scales = {"yes_no": load_scales()["agree5"]}
    with pytest.raises(PackError, match="uses scale 'agree5', which doesn't exist; use one of yes_no"):
        parse_pack(CUSTOM, scales=scales)
    pack: Pack = parse_pack(CUSTOM.replace("agree5", "yes_no"), scales=scales)
    assert {q.scale.id for q in pack.questions} == {"agree5"}
