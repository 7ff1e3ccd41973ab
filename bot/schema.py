"""Imports every module that defines tables (the kernel's, and each registered feature's), so
`Base.metadata` is complete wherever it is used (Alembic, the app, the tests)."""

from __future__ import annotations

from bot.core.models import Base
from bot.registry import FEATURES
from handlers.slack.installations import declare_tables

metadata = Base.metadata
# Each feature's tables are defined in its models modules (Feature.models), imported with the feature.
FEATURE_MODELS = [module.__name__ for feature in FEATURES for module in feature.models]
declare_tables(metadata)  # slack_sdk's OAuth tables, so Alembic manages them with ours
