"""The features this bot is made of, in the order their parts are shown (digest sections, privacy
exports, settings). Adding a feature: give it a `FEATURE` (bot/features.py) and add it here.

The central lists are built from this tuple: the scheduled jobs (bot/jobs.py), privacy rights
(bot/privacy.py), the digest's extra sections (bot/digest_sections.py), `/empathy config`'s keys
(below) and the tables Alembic manages (bot/schema.py).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.errors import UserFacingError
from bot.core.models import Workspace
from bot.core.settings import Settings
from bot.core.workspace_config import ConfigKey, get_setting, store_setting
from bot.features import Feature
from bot.kudos import service as recognition
from bot.onboarding import jobs as onboarding_jobs
from bot.suggestions import service as suggestions
from surveys import jobs as pulse_jobs

FEATURES: tuple[Feature, ...] = (pulse_jobs.FEATURE, suggestions.FEATURE, recognition.FEATURE, onboarding_jobs.FEATURE)


def config_keys() -> dict[str, ConfigKey]:
    """Every feature's per-workspace settings, by name, in the order `/empathy config` lists them."""
    keys = sorted((key for feature in FEATURES for key in feature.config_keys), key=lambda key: key.position)
    return {key.name: key for key in keys}


def set_setting(session: Session, workspace: Workspace, name: str, raw: str) -> str:
    """Parse and store `raw` for the setting called `name`; returns the stored value. Raises
    `UserFacingError` for a name no feature has, or a value its parser refuses."""
    keys = config_keys()
    key = keys.get(name)
    if key is None:
        known = ", ".join(f"`{k}`" for k in sorted(keys))
        raise UserFacingError(f"I don't have a setting called `{name[:40]}`. The ones I know are {known}.")
    return store_setting(session, workspace, key, raw)


def describe_settings(session: Session, workspace: Workspace, settings: Settings) -> list[tuple[ConfigKey, str | None]]:
    return [(key, get_setting(session, workspace, key, settings)) for key in config_keys().values()]
