"""Tests' shorthand for people's Slack accounts (bot/core/accounts.py): every fake Slack user is a person
with a Slack account."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from bot.core.accounts import external_id, with_ids
from bot.core.models import Person, PersonAccount, Platform


def slack_account(user_id: str) -> list[PersonAccount]:
    """`Person(..., accounts=slack_account("U0ANA"))`: a person with this Slack account."""
    return [PersonAccount(platform=Platform.SLACK.value, external_user_id=user_id)]


def slack_is(user_id: str) -> ColumnElement[bool]:
    """`select(Person).where(slack_is("U0ANA"))`."""
    return with_ids(Platform.SLACK.value, [user_id])


def slack_id(person: Person | None) -> str | None:
    return external_id(person, Platform.SLACK.value) if person is not None else None


def dm_of(person: Person | None) -> str | None:
    """The DM channel the bot opened with the person and kept, if any."""
    account = person.account(Platform.SLACK.value) if person is not None else None
    return account.conversation_ref if account else None
