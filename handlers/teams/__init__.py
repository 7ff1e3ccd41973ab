"""Microsoft Teams: everything the bot needs to speak in a Teams tenant (the renderer of neutral
messages as Adaptive Cards in `render/`). Imports nothing from another platform's package or SDK."""
