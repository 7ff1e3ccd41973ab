"""The Teams app manifest, built in Python from the bot's own lists.

A builder rather than a JSON template with placeholders: the command menu and the message action come
from `handlers/teams/commands.py`, the same constants the bot routes on, so the package cannot offer a
command the bot does not answer; and nothing has to be escaped into JSON by string substitution.

Targets manifest schema 1.29, the newest generally available version whose JSON schema Microsoft has
published in OfficeDev/microsoft-teams-app-schema (the tests validate against a copy of it).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from handlers.teams.commands import (
    BOT_COMMANDS,
    KUDOS_MESSAGE_ACTION,
    KUDOS_MESSAGE_ACTION_DESCRIPTION,
    KUDOS_MESSAGE_ACTION_TITLE,
)

MANIFEST_VERSION = "1.29"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
ACCENT_COLOR = "#D9485F"

# Fixed for good: the app id is uuid5(this, client id), so packaging again (a new host, a new version)
# gives the same Teams app id and the org catalog sees an update, not a second app.
APP_ID_NAMESPACE = uuid.UUID("5f0c7d1e-3b8a-4f6e-9a52-6c1d2e7b8a90")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_URL = re.compile(r"^https://[^\s/?#]+(/[^\s]*)?$")


class ManifestError(ValueError):
    """Input the package cannot be built from; `str()` is one line that says what to do."""


@dataclass(frozen=True)
class Links:
    """The pages Teams links to from the app's details: about, privacy and terms of use."""

    website: str
    privacy: str
    terms: str


def client_id(value: str | None) -> str:
    """The Entra application (client) id, checked: a GUID, as the portal shows it."""
    value = (value or "").strip()
    if not value:
        raise ManifestError(
            "TEAMS_CLIENT_ID is not set: put the Entra app registration's Application (client) ID in .env "
            "as TEAMS_CLIENT_ID=… (README: Install on Microsoft Teams)"
        )
    if not _GUID.match(value):
        raise ManifestError(
            "TEAMS_CLIENT_ID should be the Application (client) ID from the Entra app registration, like "
            "00000000-0000-0000-0000-000000000000; copy it from the app's Overview page"
        )
    return value.lower()


def host(value: str | None) -> str:
    """The public host name Teams reaches the bot at (`bot.example.com`), lower-cased.

    A bare `https://host/` is accepted too. No port, path or IP address: the bot's messaging endpoint
    must be plain HTTPS on a public name, and `validDomains` lists names only.
    """
    text = (value or "").strip()
    if not text:
        raise ManifestError(
            "the public host is missing: run `empathy-bot teams package --host bot.example.com` with the name "
            "Teams reaches the bot at (its messaging endpoint is https://HOST/api/messages)"
        )
    name = text.lower()
    if name.startswith("https://"):
        name = name.removeprefix("https://").rstrip("/")
    labels = name.split(".")
    well_formed = (
        len(name) <= 253
        and len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
    )
    if not well_formed:
        shown = text if len(text) <= 60 else text[:57] + "…"
        raise ManifestError(
            f"--host {shown!r} is not a host name: give just the public name Teams reaches the bot at, "
            "like bot.example.com (no http://, port or path)"
        )
    return name


def app_id(client: str, override: str | None = None) -> str:
    """The manifest's `id`: TEAMS_APP_ID when set, else derived from the client id (stable)."""
    if override is not None and override.strip():
        if not _GUID.match(override.strip()):
            raise ManifestError(
                "TEAMS_APP_ID should be a GUID like 00000000-0000-0000-0000-000000000000 (the id of the app "
                "already in your Teams catalog), or leave it unset"
            )
        return override.strip().lower()
    return str(uuid.uuid5(APP_ID_NAMESPACE, client.lower()))


def links(
    public_host: str, *, website: str | None = None, privacy: str | None = None, terms: str | None = None
) -> Links:
    """The pages Teams links to: the given URLs, else pages on the bot's own host."""
    chosen = Links(
        website=website or f"https://{public_host}/",
        privacy=privacy or f"https://{public_host}/privacy",
        terms=terms or f"https://{public_host}/terms",
    )
    for flag, url in (
        ("--website-url", chosen.website),
        ("--privacy-url", chosen.privacy),
        ("--terms-url", chosen.terms),
    ):
        if not _URL.match(url) or len(url) > 2048:
            raise ManifestError(f"{flag} should be an https:// address, like https://intranet.example.com/privacy")
    return chosen


def build_manifest(*, client: str, public_host: str, app: str, version: str, pages: Links) -> dict[str, Any]:
    """The manifest as a dict; arguments are already checked (`client_id`, `host`, `app_id`, `links`)."""
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app,
        "developer": {
            "name": "Empathy Bot",
            "websiteUrl": pages.website,
            "privacyUrl": pages.privacy,
            "termsOfUseUrl": pages.terms,
        },
        "name": {"short": "Empathy Bot", "full": "Empathy Bot: care for your people"},
        "description": {
            "short": "Pulse surveys, anonymous suggestions, kudos and onboarding, in Teams.",
            "full": (
                "Empathy Bot helps your company look after its people. A few quick pulse questions every week "
                "or two, with results only ever shown for groups of 5 or more; anonymous suggestions the owners "
                "can answer without learning who wrote them; kudos to thank a colleague; onboarding journeys "
                "with a checklist and a buddy; and a weekly digest for managers that never says who said what. "
                "Send me 'help' to see what I do and what I keep about you, or 'privacy' for a copy of it."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT_COLOR,
        "bots": [
            {
                "botId": client,
                # Personal: the 1:1 chat where pulses, check-ins and the home card arrive. Team: the kudos
                # channel and HR's suggestions channel. Not groupChat: in a group chat every reply is seen
                # by everyone in it, and a pulse or privacy answer must reach one person only.
                "scopes": ["personal", "team"],
                "isNotificationOnly": False,
                "supportsFiles": False,
                "commandLists": [
                    {
                        "scopes": ["personal"],
                        "commands": [{"title": c.name, "description": c.description} for c in BOT_COMMANDS],
                    }
                ],
            }
        ],
        "composeExtensions": [
            {
                "botId": client,
                "commands": [
                    {
                        "id": KUDOS_MESSAGE_ACTION,
                        "type": "action",
                        "context": ["message"],
                        "fetchTask": True,
                        "title": KUDOS_MESSAGE_ACTION_TITLE,
                        "description": KUDOS_MESSAGE_ACTION_DESCRIPTION,
                    }
                ],
            }
        ],
        "defaultInstallScope": "personal",
        "permissions": ["identity"],
        "validDomains": [public_host],
        # Graph's TeamsAppInstallation.* permissions (installing the app for people so the bot can reach
        # them first) need this key, with the bot's own Entra app id.
        "webApplicationInfo": {"id": client, "resource": f"api://botid-{client}"},
    }
