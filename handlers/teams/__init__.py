"""Microsoft Teams: everything that speaks to Teams or Microsoft Graph for the bot.

The Teams app package (the manifest, its icons and `empathy-bot teams package`) lives here, beside
the Teams front door, directory and card renderer. Like `handlers/slack`, this package never imports
another platform's package or SDK; the domain in `bot/` and `surveys/` never imports it.
"""
