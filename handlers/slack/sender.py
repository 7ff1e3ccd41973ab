"""The Slack implementation of the `Sender` port (`bot.delivery.ports`): all of the outbox's Slack.

- Posts carry Slack message metadata (`event_type=empathy_outbox`, `outbox_id=<row id>`), so after a
  crash `already_sent` finds a post in the conversation's recent history instead of posting it again
  (the design note is `bot.delivery.outbox`'s docstring, "How duplicates are prevented across a crash").
- Pacing: a token bucket per workspace (team id) for posts, which the outbox takes from right before
  each post, and one for `conversations.open` (Slack limits each method on its own), which `open_direct`
  takes from itself. The outbox's sender keeps both a little under Slack's limit (`headroom`,
  `bot.delivery.rate_limit.under_limit`).
  A 429 holds the whole workspace's buckets for its `Retry-After`, not just the message that hit it, as
  Slack asks. The outbox sends from several threads at once: everything here is safe to share.
- Slack's answers become the port's neutral errors: 429 -> `retry_after`; 5xx -> "slack http <status>"
  (the post may be stored, so the outbox checks the history before retrying); the codes in
  `PERMANENT_ERRORS` fail the row at once; other `ok: false` codes are retried; a dropped connection
  is "connection: <type>".
- The WebClient given must do no retries of its own (`build_web_client(..., for_outbox=True)`): a blind
  in-process retry after a 5xx could post twice; the outbox retries with the history check instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.delivery.ports import (
    RATE_LIMITED,
    SLACK,
    FileUpload,
    Message,
    Rendered,
    SendFailed,
    Sent,
    UndeliverableError,
    connection_reason,
    http_reason,
)
from bot.delivery.rate_limit import TokenBucket, under_limit
from handlers.slack.render.message import render_payload

METADATA_EVENT_TYPE = "empathy_outbox"
# A wait for a conversations.open token up to this is waited in the sender; a longer one reschedules the row.
OPEN_WAIT_IN_PLACE = 2.0
HISTORY_LIMIT = 200  # the lease is minutes, so a message of ours from a crash is well within the last 200
# Errors that no retry will fix: the row fails at once with the reason recorded.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_disabled",
        "account_inactive",
        "cannot_dm_bot",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "restricted_action",
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "missing_scope",
        "message_not_found",
    }
)


class SlackSender:
    platform = SLACK

    def __init__(
        self,
        client: WebClient,
        *,
        rate_per_minute: float = 300,
        burst: int = 10,
        tokens: Callable[[str], str | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        headroom: bool = False,
    ) -> None:
        """`rate_per_minute` and `burst`: the pace of each method in each workspace. With `headroom` they are
        Slack's limit, and the sender keeps a little under it (`bot.delivery.rate_limit.under_limit`), as
        the outbox's own sender does (`handlers.slack.platform`), with `conversations.open` paced on its own;
        without, posts are paced at exactly that rate and opens ride on their post's turn, as before."""
        self.client = client
        # Multi-workspace installs: the bot token for a team id (None: uninstalled). Without it, `client`'s
        # token serves every workspace.
        self.tokens = tokens
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self.monotonic = monotonic
        self.sleep = sleep
        self.headroom = headroom
        self._clients: dict[str, WebClient] = {}
        self._paces: dict[str, TokenBucket] = {}
        self._open_paces: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, message: Message) -> dict[str, Any]:
        """The stored message of an outbox row -> chat.postMessage / chat.update keyword arguments (no channel).

        The one place where what the outbox stored becomes what Slack is sent: a neutral message (v1) is
        rendered to Block Kit here, at send time; a row queued by an earlier version (v0: the keyword
        arguments themselves) is sent as it was queued. Raises UnreadableMessage for a newer version."""
        return render_payload(message)

    # -- pacing ------------------------------------------------------------------------------------

    def pace(self, workspace: str) -> TokenBucket:
        return self._bucket(self._paces, workspace)

    def _bucket(self, paces: dict[str, TokenBucket], workspace: str) -> TokenBucket:
        with self._lock:
            if workspace not in paces:
                paces[workspace] = (
                    under_limit(self.rate_per_minute, self.burst, monotonic=self.monotonic)
                    if self.headroom
                    else TokenBucket(self.rate_per_minute, self.burst, monotonic=self.monotonic)
                )
            return paces[workspace]

    def _take_open(self, workspace: str) -> None:
        """A `conversations.open` token (with `headroom`): the outbox opens DMs from several threads ahead
        of their posts, and unpaced they would reach Slack all at once. A short wait is waited here; a longer
        one (a 429 on opening holds it) puts the row back, without costing an attempt."""
        if not self.headroom:
            return
        pace = self._bucket(self._open_paces, workspace)
        while not pace.try_take():
            wait = pace.wait_time()
            if wait > OPEN_WAIT_IN_PLACE:
                raise SendFailed(RATE_LIMITED, retry_after=wait, code="conversations_open_pace")
            self.sleep(max(0.002, wait))

    # -- sending -----------------------------------------------------------------------------------

    def open_direct(self, workspace: str, user_id: str) -> str:
        client = self._client(workspace)
        self._take_open(workspace)
        opened = self._sending(workspace, lambda: client.conversations_open(users=user_id), opening=True)
        return str(opened["channel"]["id"])

    def post(self, workspace: str, conversation: str, message: Rendered, *, outbox_id: int) -> Sent:
        client = self._client(workspace)
        response = self._sending(
            workspace,
            lambda: client.chat_postMessage(channel=conversation, metadata=_marker(outbox_id), **message),
        )
        return Sent(response["channel"], response["ts"])

    def update(self, workspace: str, conversation: str, ref: str, message: Rendered) -> Sent:
        client = self._client(workspace)
        response = self._sending(workspace, lambda: client.chat_update(channel=conversation, ts=ref, **message))
        return Sent(response["channel"], response["ts"])

    def upload(self, workspace: str, conversation: str, upload: FileUpload) -> Sent:
        client = self._client(workspace)
        self._sending(
            workspace,
            lambda: client.files_upload_v2(
                channel=conversation,
                file=upload.content,
                filename=upload.filename,
                title=upload.title,
                alt_txt=upload.alt_text,
            ),
        )
        return Sent(conversation, "")

    # -- after a crash -----------------------------------------------------------------------------

    def already_sent(self, workspace: str, conversation: str, outbox_id: int) -> Sent | None:
        client = self._client(workspace)
        try:
            # The newest messages, not "since the claim": that would trust our clock to agree with Slack's.
            history = client.conversations_history(channel=conversation, include_all_metadata=True, limit=HISTORY_LIMIT)
        except SlackApiError as error:
            raise classify(error) from None
        except (SlackClientError, OSError) as error:
            raise SendFailed(connection_reason(error), code=type(error).__name__) from None
        for message in history.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT_TYPE and payload.get("outbox_id") == str(outbox_id):
                return Sent(conversation, message["ts"])
        return None

    # -- plumbing ----------------------------------------------------------------------------------

    def _client(self, workspace: str) -> WebClient:
        """The shared client, or with multi-workspace installs one carrying that workspace's current token."""
        if self.tokens is None:
            return self.client
        token = self.tokens(workspace)
        if token is None:
            raise UndeliverableError("the app is no longer installed in this workspace")
        with self._lock:
            if token not in self._clients:
                # The shared client's class: with `build_web_client`'s, connections stay open between sends.
                self._clients[token] = type(self.client)(
                    token=token,
                    base_url=self.client.base_url,
                    timeout=self.client.timeout,
                    retry_handlers=self.client.retry_handlers,
                    logger=self.client.logger,
                )
            return self._clients[token]

    def _sending(self, workspace: str, call: Callable[[], SlackResponse], *, opening: bool = False) -> SlackResponse:
        """Make a call that sends (or opens a DM to send to), with Slack's errors made neutral; a 429 holds
        the workspace's pace for its Retry-After."""
        try:
            return call()
        except SlackApiError as error:
            failed = classify(error)
            if failed.retry_after is not None:
                self.pace(workspace).hold(failed.retry_after)
                if opening:
                    self._bucket(self._open_paces, workspace).hold(failed.retry_after)
            raise failed from None
        except (SlackClientError, OSError) as error:
            raise SendFailed(connection_reason(error), code=type(error).__name__) from None


def classify(error: SlackApiError) -> SendFailed:
    """Slack's refusal as the port's neutral error. Its text is not kept: it can hold Slack's whole
    answer, message bodies included."""
    status = error.response.status_code
    code = str(error.response.get("error", "")) if isinstance(error.response.data, dict) else ""
    if status == 429:
        # Being told to slow down is not the message's fault: it does not use up an attempt.
        return SendFailed(RATE_LIMITED, retry_after=retry_after(error), code=code or RATE_LIMITED)
    if status >= 500:
        return SendFailed(http_reason(SLACK, status), code=code or None)
    if code in PERMANENT_ERRORS:
        return SendFailed(code, permanent=True)
    return SendFailed(code or http_reason(SLACK, status))


def retry_after(error: SlackApiError) -> float:
    raw = error.response.headers.get("Retry-After") or error.response.headers.get("retry-after")
    try:
        return max(1.0, float(raw[0] if isinstance(raw, list) else raw))
    except (TypeError, ValueError):
        return 30.0


def _marker(outbox_id: int) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"outbox_id": str(outbox_id)}}
