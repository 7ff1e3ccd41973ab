"""The Teams implementation of the `Sender` port (`bot.delivery.ports`): all of the outbox's Teams.

- Sends go through the Teams SDK (an initialized `App`, no web server) on the process's asyncio loop
  (`handlers.teams.loop`), to the person's conversation reference (`PersonAccount.conversation_ref`,
  JSON {conversation_id, service_url}). A person the bot never talked to gets a 1:1 conversation made
  through the Bot Connector (`POST /v3/conversations` with their Entra object id and the tenant); the
  outbox stores it once (it stores what `open_direct` returns).
- Pacing: a token bucket per tenant (`TEAMS_RATE_PER_SECOND`, default 40: inside Microsoft's published
  50 requests a second per app per tenant, with room for the bot's answers to people). Every Bot
  Connector call takes a token: the outbox takes the post's, the sender those of the calls it adds
  (creating a conversation). A 429 holds the whole tenant for its Retry-After. Per conversation,
  Microsoft's per-thread limits (7 in 1 s, 8 in 2 s, 60 in 30 s, 1800 an hour) matter for channel posts:
  a short wait is waited here, a longer one reschedules the row without costing an attempt.
- Microsoft's answers become the port's neutral errors: 429 -> `retry_after`; 412 and 5xx ->
  "teams http <status>", retried with backoff; 403 MessageWritesBlocked (blocked, or the app removed) and
  "not part of the conversation roster" (the app is not installed for them) fail the row at once with a
  reason HR can read (`bot.cli.doctor` counts them); 404 on a person's conversation (they cleared the
  chat) makes a new conversation once and posts there.
- Teams has no history the bot can read, so `already_sent` cannot look: after a crash between the post
  and the outbox's commit, or a 412/5xx/lost answer that came after Teams stored the message, the row is
  sent again. Each such ambiguous failure costs at most one duplicate and nothing is lost
  (`benchmarks/teams_fanout.py` measures it; README → Reliability).
- Charts are drawn inline in the card (`handlers.teams.render.message`), so the renderer never asks for
  an upload; `upload` still works, as a card holding the image, so the port's contract holds.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx
from microsoft_teams.api import Account, CreateConversationParams, MessageActivityInput
from microsoft_teams.apps import App
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.message import Message as NeutralMessage
from bot.core.message import is_neutral
from bot.core.models import Person, PersonAccount, Platform
from bot.core.settings import Settings
from bot.delivery.ports import (
    RATE_LIMITED,
    FileUpload,
    Message,
    Rendered,
    SendFailed,
    Sent,
    UndeliverableError,
    connection_reason,
    http_reason,
)
from bot.delivery.rate_limit import TokenBucket
from handlers.teams.accounts import ConversationRef
from handlers.teams.app import TokenProvider, initialized_app
from handlers.teams.install import InstallResult
from handlers.teams.loop import LoopThread, process_loop
from handlers.teams.reasons import (
    BLOCKED,
    FORBIDDEN,
    GONE,
    MESSAGE_GONE,
    NOT_INSTALLED,
    NOT_INSTALLED_PREFIX,
    TOO_LARGE,
)
from handlers.teams.render.message import (
    CARD_CONTENT_TYPE,
    CARD_SCHEMA,
    CARD_VERSION,
    MessageTooLarge,
    Names,
    TeamsUser,
    UnresolvedMention,
    mentioned_ids,
    render_payload,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
TEAMS = Platform.TEAMS.value

DEFAULT_RATE_PER_SECOND = 40
BURST = 10
# Microsoft's per bot, per thread limits for sending ("Rate limiting for agents"): (seconds, sends).
CONVERSATION_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
# A conversation's wait up to this is waited in place; a longer one reschedules the row.
WAIT_IN_PLACE = 2.0
DEFAULT_RETRY_AFTER = 10.0  # a 429 without Retry-After (Microsoft: back off)
CALL_TIMEOUT = 30.0


class TeamsSender:
    platform = TEAMS
    # `already_sent` can never find a post: the outbox sends Teams rows one at a time per dispatcher.
    finds_its_posts = False

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        token: TokenProvider | None = None,
        rate_per_second: float | None = None,
        burst: int = BURST,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        loop: LoopThread | None = None,
        timeout: float = CALL_TIMEOUT,
        installer: Callable[[str], InstallResult] | None = None,
    ) -> None:
        """`installer`: installs the app for a person Teams will not open a chat with (Graph; see
        `handlers.teams.install`); None leaves such people to an admin's app setup policy."""
        self.settings = settings
        self.installer = installer
        self.session_factory = session_factory
        self.token = token
        self.rate_per_second = rate_per_second or settings.teams_rate_per_second
        self.burst = burst
        self.monotonic = monotonic
        self.sleep = sleep
        self.timeout = timeout
        self._loop = loop
        self._app: App | None = None
        self._paces: dict[str, TokenBucket] = {}
        self._conversations = ConversationLimits(monotonic)
        self._lock = threading.Lock()

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, message: Message) -> dict[str, Any]:
        """The stored message -> the activity to send, plus the outbox's instruction keys (`update_ts`) and
        `thread_ts`. Mentions are resolved from the people's Teams accounts (Entra object id, name)."""
        names = self._names(message) if is_neutral(message) else None
        try:
            rendered = render_payload(message, names)
        except UnresolvedMention as error:
            raise UndeliverableError(f"it mentions someone who has no Teams account ({error})") from None
        except MessageTooLarge as error:
            raise UndeliverableError(str(error)) from None
        for reference in ("update_ts", "thread_ts"):
            if reference in message:
                rendered[reference] = message[reference]
        return rendered

    def _names(self, message: Message) -> Names:
        ids = mentioned_ids(NeutralMessage.from_json(message["message"]))
        if not ids:
            return Names()
        with self.session_factory() as session:
            rows = session.execute(
                select(PersonAccount.external_user_id, Person.name)
                .join(Person, Person.id == PersonAccount.person_id)
                .where(PersonAccount.platform == TEAMS, PersonAccount.external_user_id.in_(sorted(ids)))
            ).all()
        return Names(people={aad: TeamsUser(aad, name) for aad, name in rows})

    # -- pacing ------------------------------------------------------------------------------------

    def pace(self, workspace: str) -> TokenBucket:
        with self._lock:
            if workspace not in self._paces:
                self._paces[workspace] = TokenBucket(self.rate_per_second * 60, self.burst, monotonic=self.monotonic)
            return self._paces[workspace]

    def _take(self, workspace: str) -> None:
        """A token for a Bot Connector call the outbox did not take one for (it takes one per row)."""
        pace = self.pace(workspace)
        while not pace.try_take():
            self.sleep(max(0.01, pace.wait_time()))

    def _conversation_turn(self, conversation_id: str) -> None:
        wait = self._conversations.wait_time(conversation_id)
        if wait > WAIT_IN_PLACE:
            raise SendFailed(RATE_LIMITED, retry_after=wait, code="conversation_limit")
        if wait > 0:
            self.sleep(wait)
        self._conversations.record(conversation_id)

    # -- sending -----------------------------------------------------------------------------------

    def open_direct(self, workspace: str, user_id: str) -> str:
        """Create (or find: the Connector answers a 1:1 with the same conversation) the person's 1:1 chat;
        returns its reference as JSON, which the outbox stores as `conversation_ref`."""
        self._take(workspace)
        params = CreateConversationParams(
            members=[Account(id=user_id)],
            tenant_id=workspace,
            channel_data={"tenant": {"id": workspace}},
        )
        app = self._ready()
        try:
            created = self._sending(workspace, lambda: app.api.conversations.create(params), creating=True)
        except SendFailed as failed:
            if failed.reason != NOT_INSTALLED or self.installer is None:
                raise
            # Teams opens a chat only with someone who has the app: install it for them, then try once more.
            installed = self.installer(user_id)
            if not installed.reachable:
                raise SendFailed(
                    f"{NOT_INSTALLED_PREFIX}{installed.reason}", permanent=True, code="NotInstalled"
                ) from None
            self._take(workspace)
            created = self._sending(workspace, lambda: app.api.conversations.create(params), creating=True)
        service_url = created.service_url or self.settings.teams_service_url
        return ConversationRef(conversation_id=created.id, service_url=service_url).to_json()

    def post(self, workspace: str, conversation: str, message: Rendered, *, outbox_id: int) -> Sent:
        fields = dict(message)
        thread = fields.pop("thread_ts", None)
        ref = self._ref(conversation)
        try:
            return self._post(workspace, conversation, ref, fields, thread)
        except _ConversationGone:
            pass
        # The person cleared the chat, or it was deleted: a new 1:1 conversation, once.
        fresh = self._recreate(workspace, conversation)
        self._take(workspace)  # the outbox's token went to the post that found the chat gone
        try:
            return self._post(workspace, fresh, self._ref(fresh), fields, thread)
        except _ConversationGone:
            raise SendFailed(GONE, permanent=True) from None

    def _post(
        self, workspace: str, conversation: str, ref: ConversationRef, fields: dict[str, Any], thread: str | None
    ) -> Sent:
        target = ref.conversation_id
        if thread and target.startswith("19:"):  # only channels have threads; a 1:1 reply goes flat
            target = f"{target};messageid={thread}"
        self._conversation_turn(ref.conversation_id)
        app = self._ready()
        sent = self._sending(
            workspace,
            lambda: app.send(target, MessageActivityInput.model_validate(fields), service_url=ref.service_url),
            gone_is_special=True,
        )
        return Sent(conversation, sent.id)

    def update(self, workspace: str, conversation: str, ref: str, message: Rendered) -> Sent:
        fields = {k: v for k, v in message.items() if k != "thread_ts"}
        where = self._ref(conversation)
        self._conversation_turn(where.conversation_id)
        # The SDK replaces (PUT) an activity that carries an id.
        fields["id"] = ref
        app = self._ready()
        try:
            self._sending(
                workspace,
                lambda: app.send(
                    where.conversation_id, MessageActivityInput.model_validate(fields), service_url=where.service_url
                ),
                gone_is_special=True,
            )
        except _ConversationGone:
            raise SendFailed(MESSAGE_GONE, permanent=True) from None
        return Sent(conversation, ref)

    def upload(self, workspace: str, conversation: str, upload: FileUpload) -> Sent:
        """Teams shows images inside cards, and the renderer draws charts there; a file share would need
        the person's OneDrive consent (a file consent card) for no gain. So a file is posted as a card
        with the image inline. Like a post, a crash right after may send it once more."""
        data = base64.b64encode(upload.content).decode()
        card = {
            "type": "AdaptiveCard",
            "$schema": CARD_SCHEMA,
            "version": CARD_VERSION,
            "fallbackText": upload.title,
            "body": [
                {"type": "TextBlock", "text": upload.title, "weight": "Bolder", "wrap": True},
                {"type": "Image", "url": f"data:image/png;base64,{data}", "altText": upload.alt_text},
            ],
        }
        activity = {
            "type": "message",
            "summary": upload.title,
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
        }
        return self.post(workspace, conversation, activity, outbox_id=0)

    # -- after a crash -----------------------------------------------------------------------------

    def already_sent(self, workspace: str, conversation: str, outbox_id: int) -> Sent | None:
        """Teams keeps no message history a bot can read (the Bot Connector has no "list activities"), so
        this cannot tell: the outbox sends again, and a crash or an ambiguous failure costs at most one
        duplicate."""
        raise SendFailed("teams keeps no history the bot can read", code="no_history")

    # -- plumbing ----------------------------------------------------------------------------------

    def _ready(self) -> App:
        with self._lock:
            if self._app is None:
                try:
                    self._app = self._run(
                        lambda: initialized_app(self.settings, self.session_factory, token=self.token)
                    )
                except Exception as error:
                    # Retried like any send: a row must not be left hanging on a start-up hiccup.
                    logger.error("cannot start the Teams client: %s", type(error).__name__)
                    raise SendFailed(f"teams: the Teams client did not start ({type(error).__name__})") from None
            return self._app

    def _run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._loop or process_loop()
        return loop.run(make(), self.timeout)

    def _ref(self, conversation: str) -> ConversationRef:
        """A person's stored reference (JSON), or a bare conversation id (a channel), which the global
        service URL reaches."""
        if conversation.startswith("{"):
            return ConversationRef.from_json(conversation)
        return ConversationRef(conversation_id=conversation, service_url=self.settings.teams_service_url)

    def _recreate(self, workspace: str, conversation: str) -> str:
        """A new 1:1 conversation for whoever `conversation` was the reference of, stored in its place."""
        with self.session_factory() as session:
            aad = session.scalar(
                select(PersonAccount.external_user_id).where(
                    PersonAccount.platform == TEAMS, PersonAccount.conversation_ref == conversation
                )
            )
        if aad is None:
            raise SendFailed(GONE, permanent=True)
        fresh = self.open_direct(workspace, aad)
        with self.session_factory.begin() as session:
            session.execute(
                update(PersonAccount)
                .where(PersonAccount.platform == TEAMS, PersonAccount.conversation_ref == conversation)
                .values(conversation_ref=fresh)
            )
        logger.info("a Teams conversation was gone; made a new one and stored it")
        return fresh

    def _sending(
        self,
        workspace: str,
        call: Callable[[], Coroutine[Any, Any, T]],
        *,
        creating: bool = False,
        gone_is_special: bool = False,
    ) -> T:
        """Run an SDK call on the loop with Microsoft's answers made neutral; a 429 holds the tenant."""
        try:
            return self._run(call)
        except httpx.HTTPStatusError as error:
            if gone_is_special and error.response.status_code == 404:
                raise _ConversationGone() from None
            failed = classify(error.response, creating=creating)
            if failed.retry_after is not None:
                self.pace(workspace).hold(failed.retry_after)
            raise failed from None
        except (httpx.TransportError, TimeoutError, OSError) as error:
            raise SendFailed(connection_reason(error), code=type(error).__name__) from None
        except Exception as error:
            # The SDK's own failures (getting a token, a model it refuses): retried with backoff rather
            # than left to stop the dispatcher. The type only: the message may quote the activity.
            logger.error("the Teams SDK failed a call: %s", type(error).__name__)
            raise SendFailed(f"teams: {type(error).__name__}", code=type(error).__name__) from None


class _ConversationGone(Exception):
    pass


def classify(response: httpx.Response, *, creating: bool = False) -> SendFailed:
    """Microsoft's refusal as the port's neutral error. Its body is read for the sub code only: it can
    quote the message."""
    status = response.status_code
    if status == 429:
        return SendFailed(RATE_LIMITED, retry_after=retry_after(response), code="Throttled")
    if status == 403:
        text = _error_text(response)
        if "MessageWritesBlocked" in text:
            return SendFailed(BLOCKED, permanent=True, code="MessageWritesBlocked")
        if "roster" in text.lower() or creating:
            # Creating a 1:1 needs the app installed for the person; Teams refuses it otherwise.
            return SendFailed(NOT_INSTALLED, permanent=True, code="NotInRoster")
        return SendFailed(FORBIDDEN, permanent=True, code="Forbidden")
    if status == 404:
        return SendFailed(GONE, permanent=True, code="NotFound")
    if status == 413:
        return SendFailed(TOO_LARGE, permanent=True, code="MessageSizeTooBig")
    if status in (400, 405, 415):
        return SendFailed(http_reason(TEAMS, status), permanent=True, code="BadArgument")
    # 412, 5xx (retried, the message may have been stored), 401 (credentials can be fixed), the rest.
    return SendFailed(http_reason(TEAMS, status))


def retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, Mapping):
        return ""
    parts: list[str] = []
    for value in (
        body.get("message"),
        (body.get("error") or {}).get("message") if isinstance(body.get("error"), Mapping) else None,
    ):
        if isinstance(value, str):
            parts.append(value)
            try:
                inner = json.loads(value)
            except ValueError:
                continue
            if isinstance(inner, Mapping) and isinstance(inner.get("subCode"), str):
                parts.append(inner["subCode"])
    return " ".join(parts)


class ConversationLimits:
    """Microsoft's per-thread send limits, as sliding windows per conversation. Old conversations are
    forgotten once their newest send is an hour old, so a 10,000-person fan-out does not stay in memory."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._sends: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = monotonic()

    def wait_time(self, conversation: str) -> float:
        with self._lock:
            now = self._monotonic()
            sends = self._sends.get(conversation)
            if not sends:
                return 0.0
            wait = 0.0
            for window, limit in CONVERSATION_LIMITS:
                recent = [t for t in sends if t > now - window]
                if len(recent) >= limit:
                    wait = max(wait, recent[-limit] + window - now)
            return wait

    def record(self, conversation: str) -> None:
        with self._lock:
            now = self._monotonic()
            horizon = now - CONVERSATION_LIMITS[-1][0]
            sends = self._sends.setdefault(conversation, collections.deque())
            sends.append(now)
            while sends and sends[0] <= horizon:
                sends.popleft()
            if now - self._swept > 60:
                self._swept = now
                for key in [k for k, v in self._sends.items() if not v or v[-1] <= horizon]:
                    del self._sends[key]
