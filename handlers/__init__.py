"""Slack listeners, one module per feature. Each module has `register(app)`."""

from __future__ import annotations

from slack_bolt import App


def register_all(app: App) -> None:
    from handlers import coming_soon, empathy, home, pulse, pulse_settings

    for module in (empathy, home, pulse, pulse_settings, coming_soon):
        module.register(app)
