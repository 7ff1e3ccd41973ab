"""Everything that speaks Slack. Today: `render/`, which turns the bot's neutral messages into Block
Kit; the listeners, the app and the sender are to follow, so that only this package knows Slack."""
