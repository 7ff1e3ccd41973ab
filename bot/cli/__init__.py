"""The command line (`empathy-bot`): the composition root that wires the domain to each platform."""
