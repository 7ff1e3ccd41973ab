"""Tables for recognition shout-outs and company values (issue #6)."""

from __future__ import annotations
