"""The Teams SDK's `App`, built from our settings only, and its handlers.

Every option is passed explicitly: left unset, the SDK falls back to generic environment variables
(CLIENT_ID, CLIENT_SECRET, TENANT_ID, SERVICE_URL, CLOUD, DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS,
OAUTH_URL) that may belong to some other program. The Bot Framework's OpenID document (whose `/keys`
sibling signs inbound requests) and the Entra login endpoint come from our settings, so tests point the
real token validation at local keys instead of switching it off.

The features' handlers are in `handlers/teams/listeners/`; this module keeps what every activity goes
through, and remembering where to write to someone when they install the app. Every activity goes through `_guard` first: it handles an activity once
however often Teams delivers it, and turns our own failures into an apology and a 200.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable

from microsoft_teams.api import (
    ActivityBase,
    ApiClientSettings,
    ClientInfoEntity,
    ConversationUpdateActivity,
    InstalledActivity,
)
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRouteHandler, HttpServerAdapter
from microsoft_teams.apps.utils import extract_tenant_id
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.clock import Clock, SystemClock
from bot.core.crypto import SecretBox
from bot.core.errors import UserFacingError
from bot.core.models import ProcessedEvent
from bot.core.settings import Settings
from handlers.teams.accounts import ConversationRef, record_time_zone, remember_conversation
from handlers.teams.context import PERSONAL, TeamsContext
from handlers.teams.listeners import register_all
from handlers.teams.listeners.home import send_home_card
from handlers.teams.render.message import error_text

logger = logging.getLogger(__name__)

# (scope, tenant id) -> an access token (a JWT) for that scope; the SDK's hook for outbound tokens.
TokenProvider = Callable[[str, "str | None"], "str | Awaitable[str]"]

APOLOGY = (
    "Sorry, something went wrong on my side and nothing was changed. Please try again in a minute; "
    "if it keeps happening, let your HR team know."
)
DATABASE_DOWN = "I can't reach my database right now, so nothing was saved. Please try again in a minute."


def teams_cloud(settings: Settings) -> CloudEnvironment:
    """Microsoft's public cloud, with the key and login endpoints our settings name."""
    return with_overrides(
        PUBLIC, openid_metadata_url=settings.teams_openid_url, login_endpoint=settings.teams_login_url
    )


def create_teams_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    adapter: HttpServerAdapter,
    clock: Clock | None = None,
    token: TokenProvider | None = None,
) -> App:
    """The SDK's app with our handlers. `adapter` is where it registers `POST /api/messages` when it is
    initialized (`handlers.teams.web` for the Flask front, `NoServer` for a worker that only sends).
    `token` replaces the client-secret login (MSAL) for outbound tokens: tests pass one."""
    if not settings.teams:
        raise ValueError("Teams is not configured: TEAMS_CLIENT_ID is not set")
    cloud = teams_cloud(settings)
    app = App(
        client_id=settings.teams_client_id,
        # The SDK prefers a secret over a token provider; a test's provider must win.
        client_secret=None if token is not None else settings.teams_client_secret,
        tenant_id=settings.teams_tenant_id,
        token=token,
        cloud=cloud,
        service_url=settings.teams_service_url,
        api_client_settings=ApiClientSettings(oauth_url=cloud.token_service_url),
        http_server_adapter=adapter,
        dangerously_allow_unauthenticated_requests=False,
        state=False,
    )
    register(app, TeamsContext(settings=settings, session_factory=session_factory, clock=clock or SystemClock()))
    return app


class NoServer:
    """An `HttpServerAdapter` for processes that only send (the worker): it takes the SDK's routes and
    serves nothing."""

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        pass

    def serve_static(self, path: str, directory: str) -> None:
        pass

    async def start(self, port: int) -> None:
        raise RuntimeError("this Teams app only sends; `empathy-bot serve` answers Teams")

    async def stop(self) -> None:
        pass


async def initialized_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    clock: Clock | None = None,
    token: TokenProvider | None = None,
) -> App:
    """An initialized app for proactive sends (`await app.send(conversation_id, ...)`) without a web
    server. Await it on the process's loop (`handlers.teams.loop.process_loop().run(...)`), where its
    sends must run too: the SDK's HTTP client belongs to the loop it first ran on."""
    app = create_teams_app(settings, session_factory, adapter=NoServer(), clock=clock, token=token)
    await app.initialize()
    return app


def register(app: App, teams: TeamsContext) -> None:
    # Registration order is the order of the SDK's middleware chain: the guard wraps everything after it.
    app.use(_guard(teams))
    app.use(_time_zones(teams))

    register_all(app, teams)

    @app.on_install_add
    async def installed(ctx: ActivityContext[InstalledActivity]) -> None:
        if await _remember(teams, ctx.activity):
            await send_home_card(ctx, teams)

    @app.on_conversation_update
    async def conversation_update(ctx: ActivityContext[ConversationUpdateActivity]) -> None:
        added = ctx.activity.members_added or []
        # In a personal chat, Teams says the bot was added when the person installs the app.
        if any(member.id == ctx.activity.recipient.id for member in added) and await _remember(teams, ctx.activity):
            # Teams announces an install twice; only the announcement that stored the conversation greets.
            await send_home_card(ctx, teams)


async def _remember(teams: TeamsContext, activity: ActivityBase) -> bool:
    """Keep where to write to the person who installed the app in their personal scope; True when that
    was news (the home card is then sent)."""
    if activity.conversation.conversation_type != PERSONAL:
        return False
    person = activity.from_
    tenant_id = _tenant_of(activity)
    if not person.aad_object_id or not activity.service_url:
        logger.warning("a Teams install event without the person's Entra object id or a service URL; ignored")
        return False
    if tenant_id != teams.settings.teams_tenant_id:
        # A single-tenant registration should never hear from another tenant; never make a workspace for one.
        logger.warning("a Teams install event from another tenant than TEAMS_TENANT_ID; ignored")
        return False
    ref = ConversationRef(conversation_id=activity.conversation.id, service_url=activity.service_url)
    return await asyncio.to_thread(
        remember_conversation, teams.session_factory, tenant_id, person.aad_object_id, person.name or "", ref
    )


def _time_zones(teams: TeamsContext) -> Callable[[ActivityContext[ActivityBase]], Awaitable[None]]:
    """Record a person's time zone from their client (`clientInfo`) when the directory gave none: once
    per person per process, so the hot path (card clicks) pays nothing after the first activity."""
    seen: set[str] = set()

    async def time_zones(ctx: ActivityContext[ActivityBase]) -> None:
        activity = ctx.activity
        person = (activity.from_.aad_object_id or "").lower()
        zone = next(
            (e.timezone for e in activity.entities or () if isinstance(e, ClientInfoEntity) and e.timezone), None
        )
        tenant = _tenant_of(activity)
        if zone and person and person not in seen and tenant == teams.settings.teams_tenant_id:
            if len(seen) > 100_000:
                seen.clear()
            if await asyncio.to_thread(record_time_zone, teams.session_factory, tenant, person, zone):
                seen.add(person)
        await ctx.next()

    return time_zones


def _tenant_of(activity: ActivityBase) -> str | None:
    tenant = extract_tenant_id(activity)
    return tenant.lower() if tenant else None


def _guard(teams: TeamsContext) -> Callable[[ActivityContext[ActivityBase]], Awaitable[None]]:
    async def guard(ctx: ActivityContext[ActivityBase]) -> None:
        activity = ctx.activity
        try:
            if not await asyncio.to_thread(_first_delivery, teams, activity):
                return
            await ctx.next()
        except UserFacingError as error:
            await _tell(ctx, error_text(error))
        except OperationalError:
            logger.error("database unavailable while handling a Teams %s", activity.type)
            await _tell(ctx, DATABASE_DOWN)
        except Exception as error:
            # The traceback shows code, not values; the exception's message might quote what a person typed.
            frames = "".join(traceback.format_tb(error.__traceback__))
            logger.error("unexpected %s while handling a Teams %s\n%s", type(error).__name__, activity.type, frames)
            await _tell(ctx, APOLOGY)

    return guard


async def _tell(ctx: ActivityContext[ActivityBase], text: str) -> None:
    # Only a message has a person waiting for an answer in the chat; an invoke's answer is its response.
    if ctx.activity.type != "message":
        return
    try:
        await ctx.send(text)
    except Exception as error:
        logger.warning("could not send an error reply to Teams: %s", type(error).__name__)


# The activities handled once however often they arrive: those whose handlers change something. Invokes
# (card clicks, dialogs) are not among them: their answer is the HTTP response itself, so a second
# delivery must be answered again, and their handlers are written to be idempotent. Typing indicators and
# the like do nothing, and would cost a write each.
ONCE_ONLY = frozenset({"message", "conversationUpdate", "installationUpdate"})


def delivery_key(activity: ActivityBase, box: SecretBox) -> str | None:
    """The `ProcessedEvent` id of an activity that must be handled once, or None.

    Activity ids are unique within a conversation only (a message's id is its timestamp), so the key is
    a digest of both, keyed with EMPATHY_SECRET_KEY: a plain hash could be matched by someone holding the
    database (conversation ids are stored) by trying each millisecond, and would say who wrote to the bot
    when. It fits the 64-character column.
    """
    if activity.type not in ONCE_ONLY or not activity.id:
        return None
    digest = box.digest(f"{activity.conversation.id}\n{activity.id}")
    return f"teams:{digest[:48]}"


def _first_delivery(teams: TeamsContext, activity: ActivityBase) -> bool:
    """Whether this is the first delivery of the activity: the first one's key, committed before any
    handler runs, makes later ones no-ops, even one that arrives while the first is being handled."""
    key = delivery_key(activity, teams.box)
    if key is None:
        return True
    try:
        with teams.session_factory.begin() as session:
            session.add(ProcessedEvent(event_id=key, received_at=teams.clock.now()))
    except IntegrityError:
        logger.info("Teams activity already handled; ignoring the redelivery")
        return False
    return True
