"""What a feature declares about itself, in one place, so the central lists are built rather than edited.

A feature (pulse, digest, kudos, suggestions, onboarding) exposes one `FEATURE = Feature(...)` next to
its code: its scheduled jobs, its section of the managers' digest, its part in privacy rights (see,
export, forget, expire), its part of a person's home message, its per-workspace settings and the modules that define its tables.
`bot/registry.py` lists the features; the job list (`bot/jobs.py`), privacy rights (`bot/privacy.py`),
digests (`bot/digest_sections.py`), `/empathy config` (`bot/core/workspace_config.py`) and the schema
(`bot/schema.py`) ask the registry. Modelled on warehouse's `includeme(config)` per package and
Dispatch's per-feature `scheduled.py`: the package says what it adds, the core only collects.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import Person, Workspace
from bot.core.people import Member, Organisation
from bot.core.settings import Settings
from bot.core.workspace_config import ConfigKey
from bot.delivery.scheduler import Job


@dataclass(frozen=True)
class JobDeps:
    """What a feature's jobs may close over (the platform clients stay with the composition root)."""

    settings: Settings
    session_factory: sessionmaker[Session]
    box: SecretBox


@dataclass(frozen=True)
class Privacy:
    """A feature's part in privacy rights. `personal_data(session, person[, box])` is what it keeps about a
    person, JSON-ready; `forget(session, person[, box])` deletes or anonymises it and returns counts;
    `expire(session, now, months=)` deletes what is older than the `retention` kind's period."""

    retention: str
    personal_data: Callable[..., dict[str, Any]] | None = None
    forget: Callable[..., dict[str, int]] | None = None
    expire: Callable[..., int] | None = None


class DigestRun:
    """What every digest of one workspace in one run shares: its people, read once (`organisation`), and
    each feature's own per-run data (`shared`), so that a section costs a few queries per workspace
    rather than per manager. Nothing in it outlives the run's transaction."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self._organisation: Organisation | None = None
        self._shared: dict[Hashable, Any] = {}

    @property
    def organisation(self) -> Organisation:
        if self._organisation is None:
            self._organisation = Organisation(self.session, self.workspace_id)
        return self._organisation

    def below(self, manager: Person) -> list[Member]:
        return self.organisation.below(manager)

    def shared(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """`make()`'s result, made once per run for `key` (a feature names its own keys)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]


# (session, manager, since, until[, run]) -> the feature's digest section (surveys.digest.ExtraSection) or
# None. `run` (a `DigestRun`) is given when many managers' digests are built at once; without it, the
# section reads what it needs for this manager alone.
DigestSection = Callable[..., Any]


# (session, workspace, person, settings, now) -> the feature's part of a person's home message (neutral
# blocks, possibly none): what Teams' home card shows. Slack's App Home still draws its own Block Kit
# sections (handlers/slack/listeners/<feature>.home_blocks), whose buttons open Slack modals.
HomeParts = Callable[[Session, Workspace, Person, Settings, datetime], list[Any]]


def _no_jobs(_deps: JobDeps) -> list[Job]:
    return []


@dataclass(frozen=True)
class Feature:
    name: str
    models: tuple[ModuleType, ...] = ()
    jobs: Callable[[JobDeps], list[Job]] = _no_jobs
    digest_section: DigestSection | None = None
    privacy: Privacy | None = None
    home: HomeParts | None = None
    config_keys: tuple[ConfigKey, ...] = field(default=())
