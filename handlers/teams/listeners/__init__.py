"""Teams handlers, one module per feature, as on Slack (`handlers/slack/listeners`).

Teams has no slash commands: a command is a message to the bot in the personal chat ("kudos @Ana for
the release"), also offered in the bot's command menu (`handlers/teams/commands.py`). The router here
reads the first word and hands the rest, as a neutral `Command`, to the feature that declared it in its
module's `COMMANDS`. In a team channel or group chat the bot hears only messages that @mention it: the
mention is taken out and the first word goes to a module's `CHANNEL_COMMANDS` (`kudos channel`, typed in
the channel that should get the shout-outs); other words there get no answer. Each module's `register(app, teams)` adds what else it answers: card actions
(`Action.Execute` invokes, by action id), dialogs, message actions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from microsoft_teams.api import MentionEntity, MessageActivity
from microsoft_teams.apps import ActivityContext, App

from bot.delivery.inbound import Command
from handlers.teams.context import PERSONAL, TeamsContext

# A command's handler: the SDK's context of the message, ours, and the command as typed.
CommandHandler = Callable[[ActivityContext[MessageActivity], TeamsContext, Command], Awaitable[None]]


def register_all(app: App, teams: TeamsContext) -> None:
    from handlers.teams.listeners import help, home, kudos, onboarding, privacy, pulse, suggestions

    commands: dict[str, CommandHandler] = {}
    # Words typed to the bot (@mentioned) in a team channel or group chat; a module declares them in
    # an optional CHANNEL_COMMANDS. Anything else said there is not for us.
    channel_commands: dict[str, CommandHandler] = {}
    for module in (help, home, privacy, pulse, kudos, suggestions, onboarding):
        module.register(app, teams)
        commands.update(module.COMMANDS)
        channel_commands.update(getattr(module, "CHANNEL_COMMANDS", {}))
    help.register_fallbacks(app)  # last: it answers only what no module's route matched
    route_messages(app, teams, commands, channel_commands)


def route_messages(
    app: App,
    teams: TeamsContext,
    commands: Mapping[str, CommandHandler],
    channel_commands: Mapping[str, CommandHandler] | None = None,
) -> None:
    from handlers.teams.listeners.help import unknown

    @app.on_message
    async def message(ctx: ActivityContext[MessageActivity]) -> None:
        if ctx.activity.conversation.conversation_type != PERSONAL:
            command = command_of(without_bot_mention(ctx.activity))
            handler = (channel_commands or {}).get(command.name)
            if handler is not None:
                await handler(ctx, teams, command)
            return
        command = command_of(ctx.activity.text or "")
        await commands.get(command.name, unknown)(ctx, teams, command)


def without_bot_mention(activity: MessageActivity) -> str:
    """The message's text without the `<at>` tags that mention the bot (how a team chat addresses it)."""
    text = activity.text or ""
    for entity in activity.entities or []:
        if isinstance(entity, MentionEntity) and entity.mentioned.id == activity.recipient.id:
            text = text.replace(entity.text or f"<at>{entity.mentioned.name}</at>", " ", 1)
    return text.strip()


def command_of(typed: str) -> Command:
    """The first word (lower-cased) names the command; the rest is its words, as typed."""
    name, _, rest = typed.strip().partition(" ")
    return Command(name.lower(), rest.strip())
