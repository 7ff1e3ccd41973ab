"""Everything Microsoft Teams: the platform's implementations of the ports in `bot.delivery.ports`
and the Microsoft Graph calls behind them (the directory, managers, time zones, installing the app
for a person). Never imports another platform's package or SDK."""
