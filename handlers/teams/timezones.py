"""Windows time zone names (what Graph's mailboxSettings answer by default) as IANA names.

The table is CLDR's windowsZones, as `tzlocal` ships it (`tzlocal.windows_tz.win_tz`, MIT, regenerated
from CLDR on each tzlocal release). It was already installed (APScheduler needs it) and is now a direct
dependency: a vendored copy would need updating by hand whenever Microsoft adds a zone.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from tzlocal.windows_tz import win_tz


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def to_iana(name: str | None) -> str | None:
    """The IANA name for a Windows name ("W. Europe Standard Time" → "Europe/Berlin"); an IANA name
    (an admin may have chosen that format) as it is; None for anything else."""
    if not name:
        return None
    name = name.strip()
    iana = win_tz.get(name) or name
    return iana if iana in _iana_names() else None
