"""Everything that speaks Slack, behind the domain's ports (`bot.delivery.ports`): listeners, renderers,
the sender and the directory (moving here from `bot/` and `handlers/` step by step; see README,
Development)."""
