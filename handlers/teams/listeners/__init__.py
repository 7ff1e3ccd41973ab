"""Teams handlers, one module per feature, as on Slack (`handlers/slack/listeners`).

Teams has no slash commands: a command is a message to the bot in the personal chat ("kudos @Ana for
the release"), also offered in the bot's command menu (`handlers/teams/commands.py`). The router here
reads the first word and hands the rest, as a neutral `Command`, to the feature that declared it in its
module's `COMMANDS`. Each module's `register(app, teams)` adds what else it answers: card actions
(`Action.Execute` invokes, by action id), dialogs, message actions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from microsoft_teams.api import MessageActivity
from microsoft_teams.apps import ActivityContext, App

from bot.delivery.inbound import Command
from handlers.teams.context import PERSONAL, TeamsContext

# A command's handler: the SDK's context of the message, ours, and the command as typed.
CommandHandler = Callable[[ActivityContext[MessageActivity], TeamsContext, Command], Awaitable[None]]


def register_all(app: App, teams: TeamsContext) -> None:
    from handlers.teams.listeners import help, home, privacy

    commands: dict[str, CommandHandler] = {}
    for module in (help, home, privacy):
        module.register(app, teams)
        commands.update(module.COMMANDS)
    route_messages(app, teams, commands)


def route_messages(app: App, teams: TeamsContext, commands: Mapping[str, CommandHandler]) -> None:
    from handlers.teams.listeners.help import unknown

    @app.on_message
    async def message(ctx: ActivityContext[MessageActivity]) -> None:
        if ctx.activity.conversation.conversation_type != PERSONAL:
            return  # channel and group chats come with the features that use them
        command = command_of(ctx.activity.text or "")
        await commands.get(command.name, unknown)(ctx, teams, command)


def command_of(typed: str) -> Command:
    """The first word (lower-cased) names the command; the rest is its words, as typed."""
    name, _, rest = typed.strip().partition(" ")
    return Command(name.lower(), rest.strip())
