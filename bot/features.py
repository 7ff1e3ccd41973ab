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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.core.crypto import SecretBox
from bot.core.models import Person, Workspace
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


# (session, manager, since, until) -> the feature's digest section (surveys.digest.ExtraSection) or None.
DigestSection = Callable[[Session, Person, datetime, datetime], Any]


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
