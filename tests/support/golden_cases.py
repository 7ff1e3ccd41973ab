"""Every message the bot sends, built from fixed inputs: what tests/unit/handlers/slack/render/test_golden.py compares, byte for
byte, with the JSON files under tests/golden/.

Each case is a function of nothing (fixed people, fixed dates, fixed text with the characters that
need escaping) returning the payload Slack receives. The files were written from `main`'s renderers
before any message moved to the neutral model; when a producer moves, its case here calls the new
path (neutral message, then the Slack renderer) and the file must not change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from bot.core.message import Message, text
from bot.core.models import Person
from bot.digest_jobs import chart_message
from bot.kudos import messages as recognition_messages
from bot.kudos.models import CompanyValue, Kudos, KudosValue
from bot.kudos.service import Stats
from bot.onboarding import messages as onboarding_messages
from bot.onboarding.messages import TaskLine
from bot.suggestions import messages as suggestion_messages
from handlers.slack.render import kudos as kudos_views
from handlers.slack.render import onboarding as onboard_views
from handlers.slack.render import pulse as pulse_views
from handlers.slack.render import suggestions as suggest_views
from handlers.slack.render.message import render
from surveys import digest_messages, pulse_messages
from surveys.bank import QuestionBank
from surveys.comments import Comment
from surveys.digest import Digest, DigestSection, ExtraSection, HeatmapRow, Overview
from surveys.results import GroupResult
from surveys.rounds import Answer
from surveys.scoring import Estimate, Trend
from tests.support.people import slack_account

Case = Callable[[], Any]
CASES: dict[str, Case] = {}

# Text a person could type: mrkdwn and mentions that must never reach Slack unescaped.
TRICKY = "Thanks for <!channel> & the <@U0EVIL> fix > all *of* it\nsecond line"
CLOSES = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)


def case(name: str) -> Callable[[Case], Case]:
    def add(build: Case) -> Case:
        assert name not in CASES, name
        CASES[name] = build
        return build

    return add


# -- kudos -----------------------------------------------------------------------------------------


def _person(pid: int, name: str, slack_id: str | None) -> Person:
    accounts = slack_account(slack_id) if slack_id else []
    return Person(id=pid, workspace_id=1, name=name, accounts=accounts, email=f"p{pid}@example.com")


GIVER = _person(1, "Ana <Souza>", "U0ANA")
BEN = _person(2, "Ben & Co", "U0BEN")
CHEN = _person(3, "Chen Wei", "U0CHEN")
NO_SLACK = _person(4, "Dan Moore", None)
VALUES = [
    CompanyValue(id=1, workspace_id=1, tag="teamwork", name="Teamwork", emoji=":handshake:", position=0),
    CompanyValue(id=2, workspace_id=1, tag="ownership", name="Ownership", emoji=":rocket:", position=1),
    CompanyValue(id=3, workspace_id=1, tag="customer-first", name="Customer first", emoji="", position=2),
]


def _kudos(*, private: bool = False, tags: tuple[str, ...] = ("teamwork", "gone-value")) -> Kudos:
    kudos = Kudos(id=7, workspace_id=1, giver_id=1, message=TRICKY, private=private)
    kudos.values = [KudosValue(tag=tag, position=i) for i, tag in enumerate(tags)]
    return kudos


@case("kudos/shout_out")
def _() -> Any:
    return render(recognition_messages.shout_out(_kudos(), GIVER, [BEN], VALUES))


@case("kudos/shout_out_three_recipients_no_values")
def _() -> Any:
    return render(recognition_messages.shout_out(_kudos(tags=()), GIVER, [BEN, CHEN, NO_SLACK], VALUES))


@case("kudos/recipient_dm_public")
def _() -> Any:
    return render(recognition_messages.recipient_dm(_kudos(), GIVER, [BEN], VALUES, "C0KUDOS"))


@case("kudos/recipient_dm_private_together")
def _() -> Any:
    return render(recognition_messages.recipient_dm(_kudos(private=True, tags=()), GIVER, [BEN, CHEN], VALUES, None))


@case("kudos/recipient_dm_no_channel")
def _() -> Any:
    return render(recognition_messages.recipient_dm(_kudos(), _person(5, "", "U0NONAME"), [BEN], VALUES, None))


@case("kudos/modal")
def _() -> Any:
    return kudos_views.kudos_modal(
        VALUES, value_required=True, recipients=["U0BEN", "U0CHEN"], item=("C1", "1.2"), about=TRICKY
    )


@case("kudos/modal_no_values")
def _() -> Any:
    return kudos_views.kudos_modal([], value_required=False)


@case("kudos/done_view")
def _() -> Any:
    return kudos_views.done_view(kudos_views.sent_text([BEN, CHEN], posted_in="C0KUDOS", left=2))


@case("kudos/values_modal")
def _() -> Any:
    return [kudos_views.values_modal(":handshake: Teamwork - we win together"), kudos_views.values_modal("")]


@case("kudos/texts")
def _() -> Any:
    stats = Stats(given=4, received=9, given_recently=1, received_recently=3, values_received=[("teamwork", 3)])
    return {
        "sent_dm": kudos_views.sent_text([BEN], posted_in=None, left=0),
        "stats": kudos_views.stats_text(stats, VALUES),
        "stats_none": kudos_views.stats_text(Stats(0, 0, 0, 0, []), VALUES),
        "leaderboard": kudos_views.leaderboard_text([(BEN, 4), (CHEN, 2)]),
        "leaderboard_empty": kudos_views.leaderboard_text([]),
    }


@case("kudos/home_section")
def _() -> Any:
    stats = Stats(given=4, received=9, given_recently=1, received_recently=3, values_received=[])
    return {
        "hr": kudos_views.home_section(stats, VALUES, is_hr=True),
        "employee": kudos_views.home_section(stats, [], is_hr=False),
    }


# -- pulse -----------------------------------------------------------------------------------------

BANK = QuestionBank.builtin()
BUTTONS = BANK.question("engagement.recognition_1")
SELECT = BANK.question("recommend.recommend")
BURNOUT = BANK.question("burnout_single.overall")


def _neutral_pulse(**overrides: Any) -> Message:
    arguments: dict[str, Any] = {
        "first_name": "Ana <3",
        "round_id": 42,
        "questions": [BUTTONS, SELECT, BURNOUT],
        "answers": {},
        "closes_at": CLOSES,
        "min_group": 5,
        "company": "Acme & Sons",
    }
    return pulse_messages.pulse_message(**{**arguments, **overrides})


def _pulse(**overrides: Any) -> dict[str, Any]:
    return render(_neutral_pulse(**overrides))


@case("pulse/invite")
def _() -> Any:
    return _pulse()


@case("pulse/invite_answered")
def _() -> Any:
    answers = {
        BUTTONS.id: Answer(4, TRICKY),
        SELECT.id: Answer(9, None),
        BURNOUT.id: Answer(None, "x" * 250),
    }
    return _pulse(answers=answers)


@case("pulse/reminder")
def _() -> Any:
    return _pulse(reminder=True, first_name="", questions=[BUTTONS])


@case("pulse/with_greeting")
def _() -> Any:
    greeting = pulse_messages.greeting(first_name="Ben", count=1, closes_at=CLOSES, min_group=7)
    return render(pulse_messages.with_greeting(_neutral_pulse(), greeting))


@case("pulse/thank_you")
def _() -> Any:
    return render(
        pulse_messages.thank_you_message(first_name="Ana", round_id=42, count=3, closes_at=CLOSES, min_group=5)
    )


@case("pulse/comment_modal")
def _() -> Any:
    return [
        pulse_views.comment_modal(round_id=42, question=SELECT, existing=TRICKY, metadata="m", company="Acme"),
        pulse_views.comment_modal(round_id=42, question=BUTTONS, existing=None, metadata="", company="Acme"),
    ]


@case("pulse/closed")
def _() -> Any:
    return render(pulse_messages.closed_message(closed_on=CLOSES, min_group=5))


# -- digest ----------------------------------------------------------------------------------------


def _section(title: str, *, full: bool = True) -> DigestSection:
    figures = {
        "engagement": Estimate(62.4, 55.1, 69.9, 12),
        "burnout": Estimate(48.0, 40.0, 56.0, 12),
        "burnout_single": Estimate(20.0, 20.0, 20.0, 6),
        "recommend": Estimate(-10.0, -40.0, 20.0, 11),
        "wellbeing": Estimate(55.0, 50.0, 60.0, 9),
    }
    section = DigestSection(
        group_id=f"org:{title}",
        title=title,
        result=GroupResult(id=f"org:{title}", manager_id=1, respondents=11, invited=12, figures=figures),
        trends={"engagement": Trend("up", 60.0, 50.0, 70.0), "burnout": Trend("none", 40.0, 30.0, 50.0)},
    )
    if full:
        section.flags = ["Burnout has been going up for a while <here>"]
        section.actions = ["Ask what to stop doing", "Protect focus time & meetings"]
        section.comments = [
            Comment(TRICKY, date(2026, 11, 20), "negative"),
            Comment("y" * 320, date(2026, 11, 20), "positive"),
        ]
        section.themes = [("workload", 3), ("<b>tools</b>", 2)]
        section.strongest = [("meaningful_work", Estimate(80.0, 75.0, 85.0, 12))]
        section.weakest = [
            ("recognition", Estimate(40.0, 40.0, 40.0, 12)),
            ("workload", Estimate(45.0, 38.0, 52.0, 12)),
        ]
        section.series = {"engagement": [60.0, None, 62.4], "burnout": [40.0, 44.0, 48.0]}
        section.series_dates = [date(2026, 11, 6), date(2026, 11, 13), date(2026, 11, 20)]
    return section


WEEK_END = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _digest(sections: int = 2) -> Digest:
    return Digest(
        manager_id=1,
        week_end=WEEK_END,
        round_ids=[1, 2],
        sections=[_section("Support & Ops"), *[_section(f"Team {i}", full=False) for i in range(sections - 1)]],
        extras=[ExtraSection("kudos", "Kudos <this week>", ["3 given", "Most-tagged value: Teamwork & more"])],
        hidden=["Tiny team"],
    )


@case("digest/manager")
def _() -> Any:
    return render(digest_messages.digest_message(_digest(), "Kemi"))


@case("digest/manager_many_groups")
def _() -> Any:
    digest = _digest(sections=12)
    digest.hidden = [f"Group {i}" for i in range(23)]
    return render(digest_messages.digest_message(digest, "Kemi"))


@case("digest/manager_empty")
def _() -> Any:
    return render(
        digest_messages.digest_message(Digest(manager_id=1, week_end=WEEK_END, round_ids=[], sections=[]), "K<emi>")
    )


@case("digest/chart_upload")
def _() -> Any:
    chart = chart_message(_section("Support & Ops"))
    assert chart is not None and chart_message(_section("x", full=False)) is None
    return {"with_series": render(chart), "nothing": None}


@case("digest/nothing_this_week")
def _() -> Any:
    return render(Message(text("Nothing to report this week.")))


def _overview(rows: int = 6) -> Overview:
    drivers = ["meaningful_work", "manager_support", "recognition", "workload"]
    heat = [
        HeatmapRow(
            group_id=f"org:{i}",
            title=f"Group {i} & friends" if i % 2 else f"Group {i} <x>",
            depth=i % 6,
            respondents=None if i % 3 == 2 else 10 + i,
            cells={d: (None if (i + j) % 4 == 0 else 50.0 + i + j) for j, d in enumerate(drivers)},
        )
        for i in range(rows)
    ]
    return Overview(
        week_end=WEEK_END,
        round_ids=[1],
        sections=[_section("Acme"), _section("Acme Europe", full=False)],
        drivers=drivers,
        rows=heat,
    )


@case("digest/hr_overview")
def _() -> Any:
    return render(digest_messages.overview_message(_overview(), "Priya"))


@case("digest/hr_overview_long_table")
def _() -> Any:
    return render(digest_messages.overview_message(_overview(rows=600), "Priya"))


# -- suggestions -----------------------------------------------------------------------------------

CATEGORIES = ["workplace", "tools", "other"]


@case("suggestions/modals")
def _() -> Any:
    return {
        "suggest": suggest_views.suggest_modal(CATEGORIES, 2000),
        "confirm": suggest_views.confirm_modal(TRICKY, CATEGORIES),
        "receipt_view": suggest_views.receipt_view("S-7K3Q", 5),
        "owner_reply": suggest_views.text_modal(
            suggest_views.OWNER_REPLY_VIEW, "Reply to S-7K3Q, a long title", "Your reply", "S-7K3Q", 1000
        ),
        "close": suggest_views.text_modal(
            suggest_views.CLOSE_VIEW,
            "Close S-7K3Q",
            "Why",
            "S-7K3Q",
            500,
            optional=True,
            intro="*Won't do*: say why",
            status="wont_do",
        ),
    }


@case("suggestions/receipt_message")
def _() -> Any:
    return [
        render(suggestion_messages.receipt_message("S-7K3Q", 0)),
        render(suggestion_messages.receipt_message("S-7K3Q", 5)),
    ]


def _owner_message(**arguments: Any) -> dict[str, Any]:
    return render(suggestion_messages.owner_message(**arguments))


@case("suggestions/owner_message")
def _() -> Any:
    return {
        status: _owner_message(
            reference="S-7K3Q",
            category="tools",
            words=TRICKY,
            submitted_on=TODAY,
            status=status,
            shared_name="Ana <Souza>" if status == "acknowledged" else None,
            note="Because & why" if status in ("done", "wont_do") else None,
        )
        for status in suggestion_messages.STATUS_LABELS
    }


@case("suggestions/author_and_owner_replies")
def _() -> Any:
    return {
        "author_reply_for_owners_open": render(
            suggestion_messages.author_reply_for_owners("S-7K3Q", TRICKY, TODAY, open_=True)
        ),
        "author_reply_for_owners_closed": render(
            suggestion_messages.author_reply_for_owners("S-7K3Q", "ok", TODAY, open_=False)
        ),
        "reply_for_author_open": render(
            suggestion_messages.reply_for_author("S-7K3Q", "Priya <HR>", TRICKY, open_=True)
        ),
        "reply_for_author_closed": render(suggestion_messages.reply_for_author("S-7K3Q", "", "thanks", open_=False)),
    }


@case("suggestions/status_for_author")
def _() -> Any:
    return {
        status: render(
            suggestion_messages.status_for_author("S-7K3Q", status, "We <did> it & more" if status != "new" else None)
        )
        for status in suggestion_messages.STATUS_LABELS
    }


@case("suggestions/nudges")
def _() -> Any:
    return [render(suggestion_messages.nudge_message("S-7K3Q", TODAY, kind)) for kind in ("acknowledge", "decide")]


@case("suggestions/summary")
def _() -> Any:
    items = [("tools", TRICKY, "Bought <it>"), ("other", "z" * 700, None)]
    many = [("workplace", f"idea {i}", None) for i in range(50)]
    return {
        "since": render(suggestion_messages.summary_message(items, date(2026, 10, 1), TODAY)),
        "first": render(suggestion_messages.summary_message(many, None, TODAY)),
    }


# -- onboarding ------------------------------------------------------------------------------------


def _rendered(build: Callable[..., Message]) -> Callable[..., dict[str, Any]]:
    return lambda **arguments: render(build(**arguments))


TASKS = [
    TaskLine(11, "Set up your <laptop> & VPN", date(2026, 11, 23), False),
    TaskLine(12, "Meet *everyone*", date(2026, 11, 24), True),
]
MANY_TASKS = [TaskLine(100 + i, f"Task {i}", date(2026, 11, 23), i % 2 == 0) for i in range(23)]


@case("onboarding/welcome")
def _() -> Any:
    return {
        "full": _rendered(onboarding_messages.welcome_message)(
            first_name="Noor", company="Acme & Sons", manager="Kemi <A>", buddy="Ben", tasks=TASKS
        ),
        "bare": _rendered(onboarding_messages.welcome_message)(
            first_name="", company="Acme", manager=None, buddy=None, tasks=[]
        ),
        "many": _rendered(onboarding_messages.welcome_message)(
            first_name="Noor", company="Acme", manager=None, buddy="Ben", tasks=MANY_TASKS
        ),
    }


@case("onboarding/tasks")
def _() -> Any:
    return {
        "new_hire": _rendered(onboarding_messages.tasks_message)(
            new_hire="Noor <H>", day=3, tasks=TASKS, for_new_hire=True
        ),
        "manager": _rendered(onboarding_messages.tasks_message)(
            new_hire="Noor <H>", day=3, tasks=TASKS[:1], for_new_hire=False
        ),
    }


@case("onboarding/catch_up")
def _() -> Any:
    started = date(2026, 11, 16)
    return {
        "new_hire": _rendered(onboarding_messages.catch_up_message)(
            first_name="Noor",
            new_hire="Noor Haddad",
            company="Acme & Sons",
            for_new_hire=True,
            started=started,
            tasks=TASKS,
            skipped_checkins=2,
            manager="Kemi",
            buddy="Ben <B>",
        ),
        "new_hire_one_skipped": _rendered(onboarding_messages.catch_up_message)(
            first_name="",
            new_hire="Noor Haddad",
            company="Acme",
            for_new_hire=True,
            started=started,
            tasks=[],
            skipped_checkins=1,
        ),
        "manager": _rendered(onboarding_messages.catch_up_message)(
            first_name="Kemi",
            new_hire="Noor <Haddad>",
            company="Acme",
            for_new_hire=False,
            started=started,
            tasks=MANY_TASKS,
            skipped_checkins=3,
        ),
    }


@case("onboarding/reminder")
def _() -> Any:
    return _rendered(onboarding_messages.reminder_message)(new_hire="Noor & co", task=TASKS[0])


@case("onboarding/checkin")
def _() -> Any:
    return {
        "ask": _rendered(onboarding_messages.checkin_message)(
            step_id=21, question="Do you have <what> you need?", day=5, manager="K&"
        ),
        "ask_no_manager": _rendered(onboarding_messages.checkin_message)(
            step_id=21, question="Settled in?", day=5, manager=None
        ),
        "answered_shared": _rendered(onboarding_messages.checkin_answered_message)(
            question="Settled <in>?", score=2, shared=True, manager="Kemi"
        ),
        "answered_private": _rendered(onboarding_messages.checkin_answered_message)(
            question="Settled in?", score=4, shared=False, manager=None
        ),
        "modal": onboard_views.checkin_modal(
            step_id=21, question="Settled <in>?", score=3, manager="Kemi Adeyemi", metadata="{}"
        ),
    }


@case("onboarding/alerts")
def _() -> Any:
    return {
        "checkin": _rendered(onboarding_messages.checkin_alert_message)(
            new_hire="Noor <H>", day=5, question="Settled?", score=1, comment=TRICKY
        ),
        "checkin_no_comment": _rendered(onboarding_messages.checkin_alert_message)(
            new_hire="Noor", day=5, question="Settled?", score=2, comment=None
        ),
        "overdue": _rendered(onboarding_messages.overdue_alert_message)(new_hire="Noor & H", tasks=MANY_TASKS),
    }


@case("onboarding/buddy_prompt")
def _() -> Any:
    started = date(2026, 11, 30)
    return {
        "ask": _rendered(onboarding_messages.buddy_prompt_message)(journey_id=9, new_hire="Noor <H>", started=started),
        "ask_why": _rendered(onboarding_messages.buddy_prompt_message)(
            journey_id=9, new_hire="Noor", started=started, reason="Nobody in the team <is> free."
        ),
        "picked": _rendered(onboarding_messages.buddy_prompt_message)(
            journey_id=9, new_hire="Noor", started=started, picked="Ben &"
        ),
    }


@case("onboarding/template_modal")
def _() -> Any:
    return [
        onboard_views.template_modal(
            name="engineer",
            description="For <engineers>",
            buddy_rule="manager_picks",
            steps_text="0 | task | new_hire | Set up",
            original="engineer",
            error="Line 2: <bad>",
        ),
        onboard_views.template_modal(name="", description="", buddy_rule="?", steps_text="", original=None),
    ]
