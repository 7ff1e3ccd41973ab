"""`help` (and a greeting) in the personal chat, and the answer to words the bot does not know."""

from __future__ import annotations

from microsoft_teams.api import MessageActivity
from microsoft_teams.apps import ActivityContext, App

from bot.delivery.inbound import Command
from handlers.teams.context import TeamsContext

HELP = (
    "Hi, I'm Empathy Bot 👋 I help our company look after its people: short pulse surveys, anonymous "
    "suggestions, kudos for colleagues and onboarding check-ins, right here in Teams as your HR team turns "
    "them on. I'll write to you in this chat when there is something for you. Type home for everything "
    "waiting for you, privacy to see what I keep about you, and help any time to see this again."
)
UNKNOWN = "I didn't understand that, sorry. Type help to see what I can do for you here."


async def help_command(ctx: ActivityContext[MessageActivity], _teams: TeamsContext, _command: Command) -> None:
    await ctx.send(HELP)


async def unknown(ctx: ActivityContext[MessageActivity], _teams: TeamsContext, _command: Command) -> None:
    await ctx.send(UNKNOWN)


COMMANDS = {"help": help_command, "hi": help_command, "hello": help_command, "": help_command}


def register(_app: App, _teams: TeamsContext) -> None:
    pass
