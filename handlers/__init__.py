"""Slack listeners, one module per feature. Each module has `register(app)`."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.context import HomeSection


def register_all(app: App) -> None:
    from handlers import empathy, home, kudos, onboard, pulse, pulse_settings, suggest

    home.register(app, sections=home_sections())
    for module in (empathy, pulse, pulse_settings, suggest, kudos, onboard):
        module.register(app)


def home_sections() -> tuple[HomeSection, ...]:
    """Each feature's part of App Home, in the order it is shown (the demo draws Home tabs with it too)."""
    from handlers import kudos, onboard, suggest

    return (suggest.home_blocks, kudos.home_blocks, onboard.home_blocks)
