"""Results per group from real closed rounds: what may be shown, and a manager's own answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import Person, Team, Workspace
from surveys.bank import QuestionBank
from surveys.models import PulseUnit
from surveys.results import group_results, org_id
from surveys.rounds import close_due_rounds, open_round, record_answer
from tests.conftest import SECRET_KEY
from tests.support.people import slack_account

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# name: (team, manager)
ORG = {
    "dana": ("Leadership", None),
    "marcus": ("Leadership", "dana"),
    "grace": ("Leadership", "dana"),
    **{f"p{i}": ("Platform", "marcus") for i in range(6)},
    **{f"s{i}": ("Sales", "grace") for i in range(3)},
}


def build_org(
    session: Session, workspace: Workspace, org: dict[str, tuple[str, str | None]] | None = None
) -> dict[str, Person]:
    teams: dict[str, Team] = {}
    people: dict[str, Person] = {}
    for name, (team_name, manager) in (org or ORG).items():
        if team_name not in teams:
            teams[team_name] = Team(workspace_id=workspace.id, name=team_name)
            session.add(teams[team_name])
            session.flush()
        person = Person(
            workspace_id=workspace.id,
            accounts=slack_account(f"U0{name.upper()}"),
            name=name.title(),
            team_id=teams[team_name].id,
            manager_id=people[manager].id if manager else None,
            timezone="UTC",
        )
        session.add(person)
        session.flush()
        people[name] = person
    return people


def run_round(
    session_factory: sessionmaker[Session], workspace: Workspace, value_for: dict[str, int], day: date
) -> int:
    bank, box = QuestionBank.builtin(), SecretBox(SECRET_KEY)
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
    with session_factory.begin() as session:
        ws = session.merge(workspace)
        opened = open_round(
            session, ws, bank, box, now=now, round_key=f"r:{day}", round_date=day, packs=["engagement", "cbi_work"]
        )
        for invitation in opened.invitations:
            person = session.get(Person, invitation.person_id)
            name = person.name.lower()
            for question_id in invitation.question_ids:
                question = bank.question(question_id)
                value = value_for.get(name, 3)
                if value is None or question.scale.option(value) is not None:
                    record_answer(
                        session,
                        ws,
                        bank,
                        box,
                        person=person,
                        round_id=opened.round.id,
                        question_id=question_id,
                        value=value,
                        now=now,
                    )
        round_id = opened.round.id
    with session_factory.begin() as session:
        close_due_rounds(session, now + timedelta(days=4), box)
    return round_id


def test_only_groups_that_cannot_single_anyone_out_are_shown(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
    round_id = run_round(session_factory, workspace, {}, date(2026, 11, 23))
    with session_factory() as session:
        results = group_results(session, QuestionBank.builtin(), [round_id], k=5)
    marcus_unit = next(gid for gid in results if gid.startswith("unit:") and gid.endswith(f":{people['marcus']}"))
    assert set(results) == {org_id(people["dana"]), org_id(people["marcus"]), marcus_unit}
    # Grace's three, and the two managers reporting to Dana, are hidden; Dana's org still shows all 11.
    assert results[org_id(people["dana"])].respondents == 11
    assert results[org_id(people["marcus"])].respondents == 6


def test_a_managers_own_answers_never_count_in_the_team_they_lead(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
    # Marcus answers 1 (strongly disagree) to everything; his reports answer 5.
    round_id = run_round(
        session_factory, workspace, {"marcus": 1, **{f"p{i}": 5 for i in range(6)}}, date(2026, 11, 23)
    )
    with session_factory() as session:
        results = group_results(session, QuestionBank.builtin(), [round_id], k=5)
        marcus_units = session.scalars(select(PulseUnit).where(PulseUnit.manager_id == people["marcus"])).all()
    assert len(marcus_units) == 1 and marcus_units[0].invited == 6
    engagement = results[org_id(people["marcus"])].figures["engagement"]
    assert engagement.value == 100.0  # only the reports' 5s: Marcus's 1s are not in his own team's figure


def test_a_figure_needs_k_answers_even_in_a_shown_group(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
    # Half of Marcus's team skips everything: six responded, but every question has only three answers.
    skips: dict[str, int | None] = {f"p{i}": None for i in range(3)}
    round_id = run_round(session_factory, workspace, skips, date(2026, 11, 23))
    with session_factory() as session:
        results = group_results(session, QuestionBank.builtin(), [round_id], k=5)
    marcus = results[org_id(people["marcus"])]
    assert marcus.respondents == 6
    assert marcus.figures == {}
    assert "engagement" in results[org_id(people["dana"])].figures  # 8 answers per question there


def test_a_figure_that_subtraction_would_give_away_is_hidden(session_factory, workspace) -> None:  # type: ignore[no-untyped-def]
    with session_factory.begin() as session:
        people = {n: p.id for n, p in build_org(session, session.merge(workspace)).items()}
    # Grace's team skips everything; only Marcus and Grace themselves answer besides Marcus's six.
    # Dana's figures would then be Marcus's six plus two managers: Dana minus Marcus = those two.
    skips: dict[str, int | None] = {f"s{i}": None for i in range(3)}
    round_id = run_round(session_factory, workspace, skips, date(2026, 11, 23))
    with session_factory() as session:
        results = group_results(session, QuestionBank.builtin(), [round_id], k=5)
    dana, marcus = results[org_id(people["dana"])], results[org_id(people["marcus"])]
    assert dana.respondents == 11 and marcus.respondents == 6  # both groups are big enough to show…
    shown_in_both = set(dana.figures) & set(marcus.figures)
    assert shown_in_both == set()  # …but no figure appears in both, so none can be subtracted
    assert "engagement" in dana.figures
