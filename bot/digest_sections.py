"""Assembling a digest: the survey sections, plus the sections other features add.

A provider takes the session, the manager and the digest's week (`since` inclusive, `until`
exclusive, both UTC), and the run's `DigestRun` when one is building many digests, and returns an
`ExtraSection` or None when it has nothing worth saying.
Providers cover the manager's whole sub-organisation, like the survey sections do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot import registry
from bot.core.models import Person
from bot.core.settings import Settings
from bot.features import DigestRun
from surveys.bank import QuestionBank
from surveys.digest import Digest, ExtraSection, TrendSettings, WeekData, manager_digest

Provider = Callable[..., ExtraSection | None]


def providers() -> list[Provider]:
    """Each registered feature's section (bot/registry.py), in the registry's order."""
    return [feature.digest_section for feature in registry.FEATURES if feature.digest_section is not None]


def trend_settings(settings: Settings | None) -> TrendSettings:
    if settings is None:
        return TrendSettings()
    return TrendSettings(smoothing=settings.trend_smoothing, width=settings.trend_width)


def build_digest(
    session: Session,
    bank: QuestionBank,
    manager: Person,
    week_end: datetime,
    *,
    settings: Settings | None = None,
    data: WeekData | None = None,
    run: DigestRun | None = None,
) -> Digest:
    """The survey sections for the week ending `week_end`, plus every feature's extra section.

    `run` is shared by every digest of the workspace built in one go (`digest_jobs.queue_digests`)."""
    digest = manager_digest(session, bank, manager, week_end, trend=trend_settings(settings), data=data)
    since = week_end - timedelta(days=7)
    for provide in providers():
        extra = (
            provide(session, manager, since, week_end)
            if run is None
            else provide(session, manager, since, week_end, run)
        )
        if extra is not None:
            digest.extras.append(extra)
    return digest
