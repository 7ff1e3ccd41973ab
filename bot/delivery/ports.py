"""What a chat platform implements so the domain can reach people: the `Sender` and `Directory` ports.

Plain data and Protocols only, no platform types (the same shape as the directory port always had).
The outbox (`bot.delivery.outbox`) keeps the queue: enqueue, claim, lease, backoff, crash recovery, sealed
rows. Everything whose answer depends on the platform sits behind a `Sender`, one per platform,
chosen by the workspace's platform:

- how a row's stored message becomes the platform's message (`render`: where a platform's renderer
  plugs in), how it is posted to a conversation, how an earlier one is replaced, how a file is shared;
- how a person's direct conversation is opened (the outbox stores it, the platform opens it);
- how fast one workspace may be sent to (`pace`), and waiting out the platform's "slow down";
- which of the platform's errors no retry will fix, which may clear, and which may hide a message
  that was stored before the answer was lost;
- finding a message it already sent after a crash (`already_sent`): the outbox asks this before
  sending a row again that may already have gone out.

The Slack implementation is `handlers.slack.sender.SlackSender`, Teams' `handlers.teams.sender.TeamsSender`;
the directories are `handlers.slack.directory.SlackDirectory` and `handlers.teams.directory`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.core.models import Platform

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.core.models import Workspace

SLACK: str = Platform.SLACK.value

# The stored message of an outbox row, as the row holds it; the sender renders it (`Sender.render`).
Message = Mapping[str, Any]
# A message rendered for one platform: the arguments its post or update take, opaque to the queue
# except for two instruction keys that mean the same on every platform: `update_ts` (replace the
# message with this ref instead of posting) and `upload` (a chart to draw and share as a file:
# {"chart", "filename", "title", "alt_text"}).
Rendered = Mapping[str, Any]


# -- the Sender port ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """Where a message landed: the conversation and the platform's id of the message (Slack's `ts`).
    `ref` is "" for a shared file, which has no message of ours to find again."""

    conversation: str
    ref: str


@dataclass(frozen=True)
class FileUpload:
    """A file to share into a conversation (a digest's chart as PNG)."""

    content: bytes
    filename: str
    title: str
    alt_text: str


class UndeliverableError(Exception):
    """The row can never be delivered (the person left, the app was uninstalled): it fails at once,
    without a call to the platform."""


# Reasons a failure records (`SendFailed.reason`, then the row's `last_error`). The queue reads two
# things back from them, so they follow one vocabulary on every platform:
#   "<platform> http <status>"   an HTTP error status from the platform (e.g. "slack http 503");
#   "connection: <ErrorType>"    the request or its answer was lost on the way;
#   "ratelimited"                the platform asked us to slow down;
#   anything else                the platform's own code ("channel_not_found"), which can name a
#                                person's circumstances and is withheld for sealed rows.
RATE_LIMITED = "ratelimited"
_HTTP = re.compile(r"[a-z]+ http \d{3}")
# A 5xx or a lost connection can come after the platform stored the message; so can Teams' 412 (a
# conflict inside Microsoft's service that it asks to retry, with no word on whether the post was kept).
_MAYBE_SENT = re.compile(r"(?:[a-z]+ http (?:5\d\d|412)|connection:)")


def http_reason(platform: str, status: int) -> str:
    return f"{platform} http {status}"


def connection_reason(error: BaseException) -> str:
    return f"connection: {type(error).__name__}"


def may_have_been_sent(reason: str) -> bool:
    """Whether a failure with this reason leaves it unknown if the platform stored the message."""
    return _MAYBE_SENT.match(reason) is not None


def is_transport_reason(reason: str) -> bool:
    """Whether the reason is about the road (HTTP status, connection, pacing), not about the recipient."""
    return reason.startswith(("connection: ", RATE_LIMITED)) or _HTTP.match(reason) is not None


class SendFailed(Exception):
    """The platform did not take the message (or could not be asked).

    `reason` is what the outbox row records and the log shows, in the vocabulary above; it never holds
    the message or the platform's whole answer. `permanent`: no retry will fix it. `retry_after`: the
    platform asked us to slow down for this many seconds; the sender has already held its `pace` for
    the workspace, and the outbox reschedules the row without counting an attempt. `code` is the
    platform's own error code, for logs.
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.code = code or reason

    @property
    def maybe_sent(self) -> bool:
        return may_have_been_sent(self.reason)


class Pace(Protocol):
    """How fast one workspace may be sent to right now (a token bucket)."""

    def try_take(self) -> bool:
        """Take the right to send one message now; False when the workspace must wait."""
        ...

    def wait_time(self) -> float:
        """Seconds until a message may be sent (0 when one may be sent now)."""
        ...


@runtime_checkable
class Sender(Protocol):
    """Delivers outbox rows on one platform. `workspace` is the platform's id of the workspace
    (Slack's team id), `conversation` a channel or a direct conversation on it.

    Every call raises `SendFailed` when the platform refuses or cannot be reached, and
    `UndeliverableError` when the workspace can no longer be sent to at all.
    """

    platform: str

    def render(self, message: Message) -> Rendered:
        """A row's stored message as this platform's arguments (see `Rendered`)."""
        ...

    def pace(self, workspace: str) -> Pace:
        """The workspace's pace; the same object each time, so the queue can skip a waiting workspace."""
        ...

    def open_direct(self, workspace: str, user_id: str) -> str:
        """The direct conversation with a person (their platform user id), opened if need be."""
        ...

    def post(self, workspace: str, conversation: str, message: Rendered, *, outbox_id: int) -> Sent:
        """Post a new message, marked with the outbox row's id so `already_sent` can find it."""
        ...

    def update(self, workspace: str, conversation: str, ref: str, message: Rendered) -> Sent:
        """Replace a message sent earlier (`ref` from its `Sent`); doing it twice changes nothing."""
        ...

    def upload(self, workspace: str, conversation: str, upload: FileUpload) -> Sent:
        """Share a file. Files carry no marker, so a crash right after may share it once more."""
        ...

    def already_sent(self, workspace: str, conversation: str, outbox_id: int) -> Sent | None:
        """The message posted for this outbox row, if the conversation's recent messages hold it.

        Raises `SendFailed` when the platform cannot tell (history unreadable): the outbox then sends
        again, and a crash costs at most one duplicate."""
        ...


def finds_its_posts(sender: Sender) -> bool:
    """Whether `already_sent` can ever find a post (a sender says it cannot with `finds_its_posts = False`,
    as Teams' does): the outbox then keeps such posts to one at a time, so a crash costs at most one
    duplicate."""
    return bool(getattr(sender, "finds_its_posts", True))


# -- the Directory port ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryUser:
    user_id: str
    email: str | None
    name: str
    timezone: str | None
    is_bot: bool = False
    deleted: bool = False
    # The user id of their manager, when the platform's directory knows it (Entra does; Slack does not).
    manager_id: str | None = None


class DirectoryError(Exception):
    """The directory could not be read (network, permissions). `str()` says what to do."""


class Directory(Protocol):
    """How services learn about people from the chat platform (people, time zones, and managers where
    the platform knows them; the org file adds managers too)."""

    def lookup_by_email(self, email: str) -> DirectoryUser | None:
        """The user with this email, or None when there is none."""
        ...

    def list_users(self) -> Iterator[DirectoryUser]:
        """Every user, including bots and deactivated ones, page by page."""
        ...


# -- a platform as a whole ------------------------------------------------------------------------------


class ChatPlatform(Protocol):
    """One chat platform as the scheduled jobs see it. The composition root (`bot/cli`, the demo) builds
    one per configured platform and hands them to `bot.jobs.build_jobs`, which names no platform: the
    outbox gets each platform's `Sender`, the nightly sync each workspace's `Directory`."""

    name: str

    def sender(self) -> Sender | None:
        """The sender the outbox hands this platform's rows to (one per dispatcher run); None while the
        platform cannot send yet (its rows wait, see `OutboxDispatcher`)."""
        ...

    def directories(self, session: Session) -> Iterator[tuple[Workspace, Directory]]:
        """Each workspace or tenant the bot serves on this platform, with its directory."""
        ...
