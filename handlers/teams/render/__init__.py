"""Neutral `bot.core.message.Message`s as Teams message activities with Adaptive Card 1.5 attachments."""
