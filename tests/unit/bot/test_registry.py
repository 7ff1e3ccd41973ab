"""The feature registry: the central lists are built from `bot.registry.FEATURES`, so a feature added
there (and nowhere else) is scheduled, exported, forgotten, expired, shown in digests and configurable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import bot.jobs
import bot.privacy
import bot.registry
from bot import digest_sections
from bot.core.clock import Clock
from bot.core.crypto import SecretBox
from bot.core.models import Person, Workspace
from bot.core.settings import Settings
from bot.core.workspace_config import ConfigKey, parse_on_off
from bot.delivery.scheduler import Job
from bot.features import Feature, JobDeps, Privacy
from bot.jobs import build_jobs
from bot.registry import FEATURES, config_keys, describe_settings, set_setting
from handlers.slack.platform import SlackPlatform
from surveys.digest import ExtraSection
from tests.conftest import SECRET_KEY
from tests.support.people import slack_account

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_names_jobs_and_settings_are_each_declared_once() -> None:
    names = [feature.name for feature in FEATURES]
    assert len(names) == len(set(names))
    keys = [key.name for feature in FEATURES for key in feature.config_keys]
    assert len(keys) == len(set(keys)) and list(config_keys()) == sorted(keys, key=lambda k: config_keys()[k].position)
    # The same word in every layer: a feature's retention kind is its name.
    assert all(feature.privacy.retention == feature.name for feature in FEATURES if feature.privacy)


def test_every_table_that_names_a_person_belongs_to_a_feature_that_can_forget_them() -> None:
    """Forget and export cover everything: a feature whose tables point at a person must declare the
    privacy hooks, or a person's data would outlive their request to be forgotten."""
    for feature in FEATURES:
        tables = [
            table
            for module in feature.models
            for table in vars(module).values()
            if hasattr(table, "__table__") and table.__module__ == module.__name__
        ]
        naming = [
            t.__tablename__ for t in tables if any(fk.column.table.name == "person" for fk in t.__table__.foreign_keys)
        ]
        if naming and feature.name != "pulse":  # pulse forgets in bot/privacy.py itself (participants, exposure)
            assert feature.privacy is not None and feature.privacy.forget and feature.privacy.personal_data, (
                feature.name,
                naming,
            )


def _plant(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> Feature:
    """A new feature, added to the registry's tuple and nowhere else."""

    def jobs(deps: JobDeps) -> list[Job]:
        def tick(session: Session, clock: Clock) -> int:
            seen.append("job ran")
            return 1

        return [Job("polls.tick", tick, IntervalTrigger(minutes=5, timezone="UTC"), "A planted job.", 60)]

    def section(session: Session, manager: Person, since: datetime, until: datetime) -> ExtraSection:
        return ExtraSection(key="polls", title="Polls", lines=["2 polls this week"])

    def personal(session: Session, person: Person) -> dict[str, Any]:
        return {"votes": 3}

    def forget(session: Session, person: Person) -> dict[str, int]:
        seen.append(f"forgot {person.name}")
        return {"votes": 3}

    def expire(session: Session, now: datetime, *, months: int) -> int:
        seen.append(f"expired after {months} months")
        return 2

    polls = Feature(
        name="polls",
        jobs=jobs,
        digest_section=section,
        privacy=Privacy("polls", personal_data=personal, forget=forget, expire=expire),
        config_keys=(ConfigKey("polls-open", "whether polls are on", parse_on_off, lambda s: "off", position=95),),
    )
    monkeypatch.setattr(bot.registry, "FEATURES", (*FEATURES, polls))
    return polls


def test_a_feature_added_to_the_registry_is_scheduled_configurable_in_digests_and_in_privacy_rights(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    session_factory: sessionmaker[Session],
    workspace: Workspace,
) -> None:
    seen: list[str] = []
    _plant(monkeypatch, seen)
    settings = replace(settings, retention_months=(*settings.retention_months, ("polls", 6)))

    jobs = {job.name: job for job in build_jobs(settings, session_factory, [SlackPlatform(settings, session_factory)])}
    assert "polls.tick" in jobs
    with session_factory.begin() as session:
        assert jobs["polls.tick"].func(session, None) == 1  # type: ignore[arg-type]
        ana = Person(
            workspace_id=workspace.id, accounts=slack_account("U0ANA"), name="Ana Souza", email="ana@example.com"
        )
        session.add(ana)
        session.flush()
        assert set_setting(session, workspace, "polls-open", "yes") == "on"
        assert ("polls-open", "on") in [
            (key.name, value) for key, value in describe_settings(session, workspace, settings)
        ]
        assert digest_sections.providers()[-1](session, ana, NOW - timedelta(days=7), NOW).title == "Polls"
        assert bot.privacy.personal_data(session, ana, box=SecretBox(SECRET_KEY))["polls"] == {"votes": 3}
        done = bot.privacy.forget(session, ana, box=SecretBox(SECRET_KEY), now=NOW, actor_id=None, via="test")
        assert done["polls.votes"] == 3
        assert bot.privacy.expire(session, settings, NOW)["polls"] == 2
        assert session.scalar(select(Person.name).where(Person.id == ana.id)) == bot.privacy.FORGOTTEN_NAME
    assert seen == ["job ran", "forgot Ana Souza", "expired after 6 months"]
