"""Tables for onboarding journeys (issue #7)."""

from __future__ import annotations
