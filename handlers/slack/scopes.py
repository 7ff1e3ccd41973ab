"""The Slack bot scopes Empathy Bot needs, each with why: the one list `manifest.yml`, `empathy-bot doctor`
and the multi-workspace install (`OAuthSettings(scopes=...)`) all take theirs from.

`METHOD_SCOPES` names every Web API method the code calls and the scopes those calls need (Slack's method
reference, "Bot token" scopes); `EVENT_SCOPES` does the same for the events the manifest subscribes to.
A test checks that the two together need exactly `BOT_SCOPES`, that every method the code calls is in
`METHOD_SCOPES`, and that `manifest.yml` lists `BOT_SCOPES` as `render_manifest` writes them
(`empathy-bot manifest` rewrites the file after a change here).

"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    why: str  # one line: the comment in manifest.yml, and what doctor says is lost without it


BOT_SCOPES: tuple[Scope, ...] = (
    Scope("commands", "the slash commands and the message shortcut"),
    Scope("chat:write", "DMs, shout-outs, digests, replies"),
    Scope("im:write", "open a DM with a person (once; the channel id is stored)"),
    Scope("im:history", "after a crash, check whether a DM was already delivered (outbox)"),
    Scope("channels:history", "the same check for the kudos channel the bot was added to"),
    Scope("groups:history", "the same check for a private suggestions channel the bot was added to"),
    Scope("channels:read", "doctor: is the bot in a public channel it posts to (conversations.info)"),
    Scope("groups:read", "doctor: the same for a private channel, like the suggestions channel"),
    Scope("files:write", "trend charts in digests and the privacy export file (files_upload_v2)"),
    Scope("users:read", "names, time zones, deactivations (org sync, team_join)"),
    Scope("users:read.email", "match the org file's emails to Slack accounts"),
    Scope("reactions:read", "emoji kudos (reaction_added / reaction_removed)"),
)

# What each method the code calls needs so that every call the code makes to it works. Several scopes
# are all needed: conversations.* checks the scope for the kind of conversation (public channel, private
# channel, DM), and the code calls these on more than one kind.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    # Socket Mode: called with the app-level token (xapp-, its own `connections:write` scope), not the bot's.
    "apps.connections.open": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write",),  # always a DM with one person
    # The outbox's "was it already delivered?" check: DMs, the kudos channel, a private suggestions channel.
    "conversations.history": ("im:history", "channels:history", "groups:history"),
    "conversations.info": ("channels:read", "groups:read"),  # doctor, on the configured channels
    # files_upload_v2 is these two calls with a POST of the bytes in between.
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "users.list": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "views.open": (),
    "views.publish": (),
}

# The events manifest.yml subscribes to; slash commands and shortcuts need `commands`.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "team_join": ("users:read",),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
}

REQUIRED_SCOPES: tuple[str, ...] = tuple(scope.name for scope in BOT_SCOPES)
WHY: dict[str, str] = {scope.name: scope.why for scope in BOT_SCOPES}

# How to get a missing scope granted: the manifest already asks for it; the install must be redone.
REINSTALL = (
    "reinstall the app with manifest.yml's scopes: https://api.slack.com/apps → your app → App Manifest "
    "(paste manifest.yml) → Install App → Reinstall to Workspace, then copy the new Bot User OAuth Token "
    "if it changed (multi-workspace: each workspace installs again from /slack/install)"
)

# The bot scopes block of manifest.yml: `oauth_config:` / `scopes:` / `bot:` and its list items.
_SCOPES_BLOCK = re.compile(r"(?m)^(oauth_config:\n  scopes:\n    bot:\n)((?:      - .*\n)*)")


def render_manifest(text: str) -> str:
    """`text` (manifest.yml) with its bot scopes rewritten from `BOT_SCOPES`, each with its reason."""
    match = _SCOPES_BLOCK.search(text)
    if match is None:
        raise ValueError("manifest.yml has no oauth_config → scopes → bot list to rewrite")
    width = max(len(scope.name) for scope in BOT_SCOPES)
    lines = "".join(f"      - {scope.name:<{width}}  # {scope.why}\n" for scope in BOT_SCOPES)
    return text[: match.start(2)] + lines + text[match.end(2) :]


def missing_scopes_detail(missing: list[str]) -> str:
    """Each missing scope and what it is for: "missing files:write (trend charts …); channels:read (…)"."""
    return "missing " + "; ".join(f"{name} ({WHY[name]})" if name in WHY else name for name in missing)
