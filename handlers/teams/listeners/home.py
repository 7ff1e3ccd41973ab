"""The home card: Teams' equivalent of Slack's App Home, in the personal chat.

Adaptive Card tabs are deprecated, so home is a card: sent when the person installs the app and when
they type `home`, drawn from the neutral home message (`bot/home.py`) for whoever is looking. The card
carries a `refresh` (an `Action.Execute` with the viewer's Teams id in `userIds`): Teams asks the bot
for a fresh card whenever the viewer opens the chat, and the `adaptiveCard/action` invoke is answered
with the card drawn again for the person who sent it (Teams signs who that is), never for the person
it was first sent to. The viewer's Teams id (`29:…`) goes into the card only; it is never stored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from microsoft_teams.api import (
    ActivityBase,
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
    AdaptiveCardInvokeActivity,
    AdaptiveCardInvokeResponse,
    MessageActivity,
    MessageActivityInput,
)
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.utils import extract_tenant_id
from microsoft_teams.cards import AdaptiveCard
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.accounts import find_by_account
from bot.core.message import Heading, Message, Section, text
from bot.core.models import Person, Platform, Workspace
from bot.core.people import is_hr
from bot.delivery.inbound import Command
from bot.home import home_message
from handlers.teams.context import TeamsContext
from handlers.teams.reach import Reach, teams_reach
from handlers.teams.render.message import check, render

logger = logging.getLogger(__name__)

REFRESH_ACTION = "home.refresh"
NOT_OURS = "This card belongs to another organisation's Empathy Bot, so I can't show it here."


def viewer_of(teams: TeamsContext, activity: ActivityBase) -> tuple[str, str] | None:
    """(tenant id, Entra object id) of who sent `activity`, or None for a sender outside our tenant or
    without an Entra object id (a guest the directory cannot know)."""
    tenant = extract_tenant_id(activity)
    aad = activity.from_.aad_object_id
    if not tenant or not aad or tenant.lower() != teams.settings.teams_tenant_id:
        return None
    return tenant.lower(), aad.lower()


def find_viewer(session: Session, tenant_id: str, aad_object_id: str) -> tuple[Workspace | None, Person | None]:
    """The tenant's workspace and the person with this Entra object id, without making either."""
    workspace = session.scalar(
        select(Workspace).where(Workspace.platform == Platform.TEAMS.value, Workspace.external_id == tenant_id)
    )
    if workspace is None:
        return None, None
    return workspace, find_by_account(session, workspace, aad_object_id)


def home_card(teams: TeamsContext, tenant_id: str, aad_object_id: str, viewer_id: str) -> dict[str, Any]:
    """The home card activity for the person with `aad_object_id`, refreshed for `viewer_id` (their `29:` id)."""
    now: datetime = teams.clock.now()
    with teams.session_factory() as session:
        workspace, person = find_viewer(session, tenant_id, aad_object_id)
        message = home_message(session, workspace, person, teams.settings, now)
        if workspace is not None and person is not None and is_hr(session, person, teams.settings):
            message = with_reach(message, teams_reach(session))
        session.rollback()  # reading only: nothing a home card draws may change the database
    return home_activity(message, viewer_id)


def with_reach(message: Message, reach: Reach) -> Message:
    """HR's card adds who the bot can reach on Teams, and why not (counts only, never names): the
    home card's side of `empathy-bot doctor`'s Teams reach check."""
    if not reach.people:
        return message
    if not reach.cannot:
        words = f"I can write to all {reach.people} people who have Teams accounts."
    else:
        why = "; ".join(f"{count} {label}" for label, count in sorted(reach.unreachable.items()))
        words = (
            f"{reach.cannot} of {reach.people} people can't be reached in Teams: {why}. "
            "`empathy-bot doctor` says what an admin can do."
        )
    if reach.not_yet:
        words += f" {reach.not_yet} have no chat with me yet; I open one with their first message."
    return Message(message.summary, (*message.blocks, Heading("Who I can reach"), Section(text(words))))


def home_activity(message: Message, viewer_id: str) -> dict[str, Any]:
    """`message` as the home card: Teams asks for it afresh (`REFRESH_ACTION`) when `viewer_id` opens it."""
    activity = render(message)
    card = activity["attachments"][0]["content"]
    card["refresh"] = {
        "action": {
            "type": "Action.Execute",
            "title": "Refresh",
            "verb": REFRESH_ACTION,
            "data": {"action": REFRESH_ACTION},
        },
        "userIds": [viewer_id],
    }
    check(activity)
    return activity


async def send_home_card(ctx: ActivityContext[Any], teams: TeamsContext) -> None:
    """Send the sender of `ctx.activity` their home card in this (personal) conversation."""
    viewer = viewer_of(teams, ctx.activity)
    if viewer is None:
        return
    activity = await asyncio.to_thread(home_card, teams, *viewer, ctx.activity.from_.id)
    await ctx.send(MessageActivityInput.model_validate(activity))


async def home_command(ctx: ActivityContext[MessageActivity], teams: TeamsContext, _command: Command) -> None:
    await send_home_card(ctx, teams)


COMMANDS = {"home": home_command}


def register(app: App, teams: TeamsContext) -> None:
    @app.on_card_action_execute(REFRESH_ACTION)
    async def refresh(ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        viewer = viewer_of(teams, ctx.activity)
        if viewer is None:
            return AdaptiveCardActionMessageResponse(value=NOT_OURS)
        activity = await asyncio.to_thread(home_card, teams, *viewer, ctx.activity.from_.id)
        card = activity["attachments"][0]["content"]
        return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(card))
