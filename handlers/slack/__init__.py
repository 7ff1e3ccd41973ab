"""Everything that talks to Slack, behind the domain's ports (`bot.delivery.ports`)."""
