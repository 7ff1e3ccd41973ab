"""Everything that speaks Slack, behind the domain's ports (`bot.delivery.ports`): the Bolt app and its
listeners' context, the web front, Socket Mode, installations, the client, the renderer of neutral
messages, the sender and the directory. The feature listeners are still in `handlers/` beside this."""
