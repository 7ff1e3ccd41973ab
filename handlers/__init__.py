"""Slack listeners, one module per feature. Each module has `register(app)`."""

from __future__ import annotations

from slack_bolt import App


def register_all(app: App) -> None:
    from handlers import empathy, home, kudos, onboard, pulse, pulse_settings, suggest

    home.register(app, sections=(suggest.home_blocks, kudos.home_blocks, onboard.home_blocks))
    for module in (empathy, pulse, pulse_settings, suggest, kudos, onboard):
        module.register(app)
