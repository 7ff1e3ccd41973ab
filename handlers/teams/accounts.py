"""Who a Teams user is to us, and where a message to them goes.

People are keyed by their Entra object id (`aadObjectId`): it is the same for every app in the tenant
and is what Graph's directory returns. The `29:…` id an activity carries is per bot, so it is never the
key. Where to write to someone is a conversation reference: the 1:1 conversation's id and the regional
Bot Connector URL (`serviceUrl`) that Teams gave with it, kept as JSON in `PersonAccount.conversation_ref`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.accounts import find_by_account, link
from bot.core.models import Person, PersonAccount, Platform, Workspace
from bot.core.workspaces import find_workspace, get_or_create_workspace
from handlers.teams.timezones import to_iana

logger = logging.getLogger(__name__)

TEAMS = Platform.TEAMS.value


@dataclass(frozen=True)
class ConversationRef:
    """Where a proactive message to a person goes: `POST {service_url}v3/conversations/{conversation_id}/activities`."""

    conversation_id: str
    service_url: str

    def to_json(self) -> str:
        return json.dumps({"conversation_id": self.conversation_id, "service_url": self.service_url}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ConversationRef:
        data = json.loads(text)
        return cls(conversation_id=str(data["conversation_id"]), service_url=str(data["service_url"]))


def teams_workspace(session: Session, tenant_id: str) -> Workspace:
    """The tenant's workspace, made on first use."""
    return get_or_create_workspace(session, tenant_id.lower(), platform=TEAMS)


def remember_conversation(
    session_factory: sessionmaker[Session], tenant_id: str, aad_object_id: str, name: str, ref: ConversationRef
) -> bool:
    """Keep `ref` as the way to reach the person with this Entra object id, making them (and their
    tenant's workspace) if the bot has not met them yet. True when `ref` is new for them (a first
    install, or a new conversation): what deserves a welcome, once.

    Teams announces one install twice, as installationUpdate and conversationUpdate, often at the same
    moment: the second transaction to add the same person then breaks a unique constraint, and is
    retried once to find the person the first one added.
    """
    for attempt in (1, 2):
        try:
            with session_factory.begin() as session:
                return _remember(session, tenant_id, aad_object_id.lower(), name, ref)
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info("a concurrent delivery added this Teams person first; trying again")
    return False


def _remember(session: Session, tenant_id: str, aad_object_id: str, name: str, ref: ConversationRef) -> bool:
    workspace = teams_workspace(session, tenant_id)
    person = find_by_account(session, workspace, aad_object_id)
    if person is None:
        # Only the display name is known here; the directory sync (Graph) adds email, manager and time zone.
        person = Person(workspace_id=workspace.id, name=name[:200], source=TEAMS)
        session.add(person)
        session.flush()
    account = link(session, person, TEAMS, aad_object_id)
    session.flush()
    # One conditional UPDATE rather than read-then-write: when both announcements of an install race,
    # the database's row lock lets exactly one of them change the reference (and so greet once).
    stored = ref.to_json()
    changed = session.execute(
        update(PersonAccount)
        .where(
            PersonAccount.id == account.id,
            or_(PersonAccount.conversation_ref.is_(None), PersonAccount.conversation_ref != stored),
        )
        .values(conversation_ref=stored)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(account, ["conversation_ref"])
    return changed == 1


def record_time_zone(session_factory: sessionmaker[Session], tenant_id: str, aad_object_id: str, zone: str) -> bool:
    """Keep the time zone a person's Teams client reports (its `clientInfo` entity) as theirs when the
    directory gave none: pulses, reminders and digests go out at each person's local time. The directory
    (Graph's mailbox settings, an org file) stays the authority: a zone already set is left alone.
    Returns whether the person now has a zone (False: not a zone, or someone the bot does not know yet)."""
    iana = to_iana(zone)
    if iana is None:
        return False
    with session_factory.begin() as session:
        workspace = find_workspace(session, tenant_id.lower(), platform=TEAMS)
        person = find_by_account(session, workspace, aad_object_id.lower()) if workspace else None
        if person is None:
            return False
        if not person.timezone:
            person.timezone = iana
    return True
