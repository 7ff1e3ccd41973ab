"""Everything that speaks Slack: listeners, renderers, the sender and the directory (moving here from
`bot/` and `handlers/` step by step; see README, Development)."""
