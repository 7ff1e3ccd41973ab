"""Tables for the anonymous suggestion box (issue #5)."""

from __future__ import annotations
