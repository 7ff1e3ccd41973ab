"""`python -m bot.cli`: the same as the `empathy-bot` command."""

from bot.cli.main import main

raise SystemExit(main())
