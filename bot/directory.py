"""The organisation directory as the domain sees it: plain data, no Slack types.

The `Directory` port now lives with the `Sender` in `bot.delivery.ports`; these names stay importable
from here so that code written against the old home keeps working until the layout moves.
"""

from __future__ import annotations

from bot.delivery.ports import Directory, DirectoryError, DirectoryUser

__all__ = ["Directory", "DirectoryError", "DirectoryUser"]
