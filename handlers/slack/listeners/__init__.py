"""Slack listeners, one module per feature. Each module has `register(app)`."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.context import HomeSection


def register_all(app: App) -> None:
    from handlers.slack.listeners import help, home, kudos, onboarding, pulse, pulse_settings, suggestions

    # Pulse first, its answer clicks at the very top: Bolt tries each listener's matcher in order until
    # one matches, and answer clicks are most of what a worker applies (no other listener matches them).
    pulse.register(app)
    home.register(app, sections=home_sections())
    for module in (help, pulse_settings, suggestions, kudos, onboarding):
        module.register(app)


def home_sections() -> tuple[HomeSection, ...]:
    """Each feature's part of App Home, in the order it is shown (the demo draws Home tabs with it too)."""
    from handlers.slack.listeners import kudos, onboarding, suggestions

    return (suggestions.home_blocks, kudos.home_blocks, onboarding.home_blocks)
