"""Imports every module that defines tables, so `Base.metadata` is complete wherever it is used
(Alembic, the app, the tests)."""

from __future__ import annotations

import bot.onboarding_models
import bot.recognition_models
import bot.suggestion_models  # noqa: F401
import surveys.models  # noqa: F401
from bot.installations import declare_tables
from bot.models import Base

metadata = Base.metadata
declare_tables(metadata)  # slack_sdk's OAuth tables, so Alembic manages them with ours
