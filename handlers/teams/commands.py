"""The bot's commands on Teams: the one list the manifest's command menu is written from.

On Teams a "command" is the first word of a message to the bot (the manifest's command menu only puts
that word in the compose box), so the router that reads those messages and the manifest both take
their names from `BOT_COMMANDS`; a test checks the packaged manifest lists exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BotCommand:
    """One word a person can send the bot, and what the command menu says about it."""

    name: str
    description: str


# Shown in Teams' command menu under each word. Teams cuts long lines in that menu, so each says the
# one thing the command is for, kindly, in under 128 characters.
BOT_COMMANDS: tuple[BotCommand, ...] = (
    BotCommand(
        "pulse", "Your open pulse survey, a few quick questions. Results are only ever shown for groups of 5 or more."
    ),
    BotCommand(
        "kudos",
        "Thank a colleague: kudos @name for what they did. They hear it from me, and the kudos channel sees it.",
    ),
    BotCommand("suggest", "Send an idea anonymously. The owners can reply without ever learning who you are."),
    BotCommand("onboard", "Your onboarding checklist, and the tasks you have as a new colleague's manager or buddy."),
    BotCommand("home", "Everything that's waiting for you in one card: your pulse, kudos, suggestions and onboarding."),
    BotCommand("help", "What I do, and what I keep about you."),
    BotCommand("privacy", "See everything I keep about you, and get a copy of it."),
)

# The message action ("…" on a message → "Give kudos for this"). Same id as the Slack message shortcut,
# so the kudos it starts reads the same in the audit and the logs on both platforms.
KUDOS_MESSAGE_ACTION = "kudos_for_message"
KUDOS_MESSAGE_ACTION_TITLE = "Give kudos for this"
KUDOS_MESSAGE_ACTION_DESCRIPTION = (
    "Thank whoever wrote this message: the kudos form opens with them and their words filled in."
)


def command_names() -> tuple[str, ...]:
    return tuple(command.name for command in BOT_COMMANDS)
