"""People's accounts on chat platforms: finding a person from a platform's user id, and back.

The domain holds `Person` and `Workspace`; which Slack user or Teams user a person is lives here
(`PersonAccount`), so that services never take a platform's id and a person can be reached on more
than one platform. A person's account on their workspace's platform is the one requests arrive from
and messages go to.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, bindparam, exists, select
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.models import Person, PersonAccount, Workspace


def find_by_account(session: Session, workspace: Workspace, external_user_id: str) -> Person | None:
    """The person whose account on the workspace's platform has this id, with that account loaded in
    the same query (every request starts here: reading the account, e.g. the DM a click came from,
    must not cost a second round trip). `person.accounts` then holds the matching account."""
    return session.scalar(
        select(Person)
        .join(Person.accounts)
        .where(
            PersonAccount.workspace_id == workspace.id,
            PersonAccount.platform == workspace.platform,
            PersonAccount.external_user_id == external_user_id,
        )
        .options(contains_eager(Person.accounts))
    )


# Built once: every click runs it, and building a statement (its expressions and cache key) cost more
# CPU than the query itself.
def account_of_user_in_workspace() -> ColumnElement[bool]:
    """The join condition from a workspace to the account of the platform user bound as `user`: the
    account's unique index (workspace, platform, external id) answers it."""
    return and_(
        PersonAccount.workspace_id == Workspace.id,
        PersonAccount.platform == Workspace.platform,
        PersonAccount.external_user_id == bindparam("user"),
    )


_WORKSPACE_AND_PERSON = (
    select(Workspace, PersonAccount, Person)
    .outerjoin(PersonAccount, account_of_user_in_workspace())
    .outerjoin(Person, Person.id == PersonAccount.person_id)
    .where(Workspace.platform == bindparam("platform"), Workspace.external_id == bindparam("workspace"))
)


def find_workspace_and_person(
    session: Session, platform: str, workspace_external_id: str, external_user_id: str
) -> tuple[Workspace | None, Person | None]:
    """The workspace a request came from and the person whose account there has this id, in ONE
    query (every click starts here; a workspace lookup then a person lookup was two round trips).
    `person.accounts` then holds the matching account, as with `find_by_account`."""
    row = session.execute(
        _WORKSPACE_AND_PERSON, {"platform": platform, "workspace": workspace_external_id, "user": external_user_id}
    ).first()
    if row is None:
        return None, None
    workspace, account, person = row
    if person is not None and account is not None and "accounts" not in person.__dict__:
        set_committed_value(person, "accounts", [account])
    return workspace, person


def people_by_external_id(session: Session, workspace: Workspace) -> dict[str, Person]:
    """Everyone with an account on the workspace's platform, by that account's user id."""
    rows = session.execute(
        select(PersonAccount.external_user_id, Person)
        .join(Person, Person.id == PersonAccount.person_id)
        .where(PersonAccount.workspace_id == workspace.id, PersonAccount.platform == workspace.platform)
    )
    return {user_id: person for user_id, person in rows}


def chat_id(person: Person) -> str | None:
    """The person's user id on their workspace's platform (a person's accounts are on that platform), for
    mentions in the messages the bot words for them."""
    return person.accounts[0].external_user_id if person.accounts else None


def external_id(person: Person, platform: str) -> str | None:
    """The person's user id on `platform`, if they have an account there."""
    account = person.account(platform)
    return account.external_user_id if account else None


def has_account(platform: str | None = None) -> ColumnElement[bool]:
    """A condition on `Person`: has an account (on `platform`, or on any)."""
    condition = PersonAccount.person_id == Person.id
    if platform is not None:
        condition = condition & (PersonAccount.platform == platform)
    return exists().where(condition)


def with_ids(platform: str, external_user_ids: Iterable[str]) -> ColumnElement[bool]:
    """A condition on `Person`: their account on `platform` has one of these ids."""
    return Person.id.in_(
        select(PersonAccount.person_id).where(
            PersonAccount.platform == platform, PersonAccount.external_user_id.in_(sorted(set(external_user_ids)))
        )
    )


def link(session: Session, person: Person, platform: str, external_user_id: str) -> PersonAccount:
    """Make `external_user_id` the person's account on `platform` (a new id forgets the old DM reference)."""
    account = person.account(platform)
    if account is None:
        account = PersonAccount(
            person=person, workspace_id=person.workspace_id, platform=platform, external_user_id=external_user_id
        )
        session.add(account)
    elif account.external_user_id != external_user_id:
        account.external_user_id = external_user_id
        account.conversation_ref = None
    return account


def unlink(session: Session, person: Person, platform: str | None = None) -> int:
    """Remove the person's account on `platform` (or all of them); how many went."""
    gone = [account for account in person.accounts if platform is None or account.platform == platform]
    for account in gone:
        person.accounts.remove(account)
        session.delete(account)
    return len(gone)
