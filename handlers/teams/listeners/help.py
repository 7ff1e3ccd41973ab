"""`help` (and a greeting) in the personal chat, and the answer to words, buttons and dialogs the bot
does not know."""

from __future__ import annotations

from microsoft_teams.api import (
    AdaptiveCardInvokeActivity,
    MessageActivity,
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.api.models import (
    AdaptiveCardActionMessageResponse,
    TaskModuleMessageResponse,
    TaskModuleResponse,
)
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
# A click or form from a card no handler recognises (an older card, a changed button). Answered with
# nothing, a click or a dialog's opening has nothing for Teams to show but its own error, and a submitted
# form closes as if it had worked: the person is told, in words, that nothing happened.
STALE = (
    "I can't act on that button any more (the card may be from an older version of me), so nothing was "
    "changed. Type help to see what I can do for you here."
)


async def help_command(ctx: ActivityContext[MessageActivity], _teams: TeamsContext, _command: Command) -> None:
    await ctx.send(HELP)


async def unknown(ctx: ActivityContext[MessageActivity], _teams: TeamsContext, _command: Command) -> None:
    await ctx.send(UNKNOWN)


COMMANDS = {"help": help_command, "hi": help_command, "hello": help_command, "": help_command}


def register(_app: App, _teams: TeamsContext) -> None:
    pass


def register_fallbacks(app: App) -> None:
    """Answers for the card clicks and dialogs no feature took. Registered after every feature's routes:
    the SDK runs the first route that matches, so these only see what nothing else matched."""

    @app.on_card_action_execute
    async def unknown_button(_ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardActionMessageResponse:
        return AdaptiveCardActionMessageResponse(value=STALE)

    @app.on_dialog_open
    async def unknown_dialog(_ctx: ActivityContext[TaskFetchInvokeActivity]) -> TaskModuleResponse:
        return TaskModuleResponse(task=TaskModuleMessageResponse(value=STALE))

    @app.on_dialog_submit
    async def unknown_form(_ctx: ActivityContext[TaskSubmitInvokeActivity]) -> TaskModuleResponse:
        return TaskModuleResponse(task=TaskModuleMessageResponse(value=STALE))
