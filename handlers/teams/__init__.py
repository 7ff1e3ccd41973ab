"""Everything that speaks Microsoft Teams: the SDK's app built from our settings (`app.py`), its messaging
endpoint on the Flask front (`web.py`), the one asyncio loop per process that runs the SDK's coroutines
(`loop.py`), and the people and conversations Teams tells us about (`accounts.py`).

The SDK (`microsoft-teams-apps`) loads a `.env` from the working directory or any parent into the process
environment when its app module is first imported, and its `App` then falls back to generic variables
such as CLIENT_ID and CLIENT_SECRET. Our settings decide everything, so the first import happens here,
with that loading switched off, before any module of this package imports the SDK.
"""

from __future__ import annotations

import importlib
import os
import warnings

_DOTENV_SWITCH = "PYTHON_DOTENV_DISABLED"  # python-dotenv's own switch, read by load_dotenv


def _import_sdk_without_its_dotenv() -> None:
    before = os.environ.get(_DOTENV_SWITCH)
    os.environ[_DOTENV_SWITCH] = "1"
    try:
        with warnings.catch_warnings():
            # A preview notice about HTML widgets, a feature the bot does not use, printed at every start.
            warnings.filterwarnings("ignore", message="HtmlWidgetSecurityPolicy is in preview")
            importlib.import_module("microsoft_teams.apps.app")
    finally:
        if before is None:
            os.environ.pop(_DOTENV_SWITCH, None)
        else:
            os.environ[_DOTENV_SWITCH] = before


_import_sdk_without_its_dotenv()
