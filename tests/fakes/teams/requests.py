"""Activities as Teams sends them, signed as the Bot Framework signs them, POSTed to /api/messages.

The builders write the JSON Teams posts (shapes from Microsoft's docs and recorded payloads): a message
with its `clientInfo` entity, an Adaptive Card `Action.Execute` invoke, a dialog's `task/fetch` and
`task/submit` invokes (and any other invoke by name), and the two announcements of a
personal install (`installationUpdate` and `conversationUpdate` with the bot in `membersAdded`).
`TeamsRequests.post` signs each with the fake key set's key (`tests.fakes.teams.auth`) and sends it
through the Flask test client, or over real HTTP to a running server.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from flask.testing import FlaskClient

from tests.fakes.teams.auth import FakeBotFrameworkAuth

JSON = dict[str, Any]
_UNSET: Any = object()


@dataclass(frozen=True)
class TeamsUser:
    """A person in the tenant: their Entra object id, their per-bot Teams id, their display name."""

    aad_object_id: str
    name: str

    @property
    def user_id(self) -> str:
        # Teams' per-bot id for the person; what it is made from does not matter, only that it is not the key.
        return f"29:1{self.aad_object_id.replace('-', '')[:24]}"

    @property
    def personal_conversation_id(self) -> str:
        return f"a:1{self.aad_object_id.replace('-', '')}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class TeamsRequests:
    def __init__(
        self,
        auth: FakeBotFrameworkAuth,
        *,
        client_id: str,
        tenant_id: str,
        service_url: str,
        client: FlaskClient | None = None,
        base_url: str | None = None,
        path: str = "/api/messages",
    ) -> None:
        assert (client is None) != (base_url is None), "give a Flask test client or the base URL of a server"
        self.auth = auth
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.service_url = service_url
        self.client = client
        self.base_url = base_url
        self.path = path
        self._ids = itertools.count(1)

    # -- sending ----------------------------------------------------------------------------

    def token_for(self, activity: JSON, **forge: Any) -> str:
        """The bearer token Teams would send with `activity`; `forge` passes to `activity_token`."""
        return self.auth.activity_token(self.client_id, activity["serviceUrl"], **forge)

    def post(self, activity: JSON, *, token: str | None = _UNSET, **forge: Any) -> Answer:
        """POST `activity`, signed (or with `token`, or with no Authorization header for token=None)."""
        if token is _UNSET:
            token = self.token_for(activity, **forge)
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if self.client is not None:
            response = self.client.post(self.path, json=activity, headers=headers)
            return Answer(response.status_code, response.get_json(silent=True))
        assert self.base_url is not None
        with httpx.Client(timeout=30) as http:
            reply = http.post(self.base_url.rstrip("/") + self.path, json=activity, headers=headers)
        try:
            body = reply.json() if reply.content else None
        except ValueError:
            body = reply.text
        return Answer(reply.status_code, body)

    # -- activities -------------------------------------------------------------------------

    def _common(self, user: TeamsUser, *, conversation_id: str | None, activity_id: str | None) -> JSON:
        now = datetime.now(UTC)
        return {
            "id": activity_id or f"1{int(now.timestamp() * 1000)}{next(self._ids):04d}",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": {"id": user.user_id, "name": user.name, "aadObjectId": user.aad_object_id},
            "conversation": {
                "conversationType": "personal",
                "tenantId": self.tenant_id,
                "id": conversation_id or user.personal_conversation_id,
            },
            "recipient": {"id": f"28:{self.client_id}", "name": "Empathy Bot"},
            "channelData": {"tenant": {"id": self.tenant_id}},
        }

    def message(
        self,
        user: TeamsUser,
        text: str,
        *,
        conversation_id: str | None = None,
        conversation_type: str = "personal",
        activity_id: str | None = None,
        timezone: str = "Europe/Lisbon",
    ) -> JSON:
        activity = self._common(user, conversation_id=conversation_id, activity_id=activity_id)
        activity["conversation"]["conversationType"] = conversation_type
        activity.update(
            type="message",
            text=text,
            textFormat="plain",
            locale="en-GB",
            localTimezone=timezone,
            entities=[
                {"type": "clientInfo", "locale": "en-GB", "country": "GB", "platform": "Web", "timezone": timezone}
            ],
        )
        bot = activity["recipient"]
        if f"<at>{bot['name']}</at>" in text:  # Teams sends a mention entity with every @mention
            activity["entities"].append({"type": "mention", "text": f"<at>{bot['name']}</at>", "mentioned": dict(bot)})
        return activity

    def card_action(
        self,
        user: TeamsUser,
        data: JSON,
        *,
        verb: str = "",
        reply_to_id: str | None = None,
        trigger: str = "manual",
        conversation_id: str | None = None,
        conversation_type: str = "personal",
    ) -> JSON:
        """An `Action.Execute` click on an Adaptive Card (invoke `adaptiveCard/action`); `trigger="automatic"`
        is Teams asking for a card's `refresh` when the viewer opens it."""
        activity = self._common(user, conversation_id=conversation_id, activity_id=None)
        activity["conversation"]["conversationType"] = conversation_type
        activity.update(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=reply_to_id or "1700000000000",
            value={
                "action": {"type": "Action.Execute", "id": uuid.uuid4().hex, "verb": verb, "data": data},
                "trigger": trigger,
            },
            locale="en-GB",
            entities=[{"type": "clientInfo", "locale": "en-GB", "platform": "Web", "timezone": "Europe/Lisbon"}],
        )
        return activity

    def execute(self, user: TeamsUser, action: JSON, inputs: JSON | None = None, **options: Any) -> JSON:
        """The click a card's `Action.Execute` sends: its data, with the card's inputs merged in as Teams
        does (by input id, unless the action says `associatedInputs: none`), its verb."""
        assert action["type"] == "Action.Execute", action
        data = dict(action.get("data") or {})
        if action.get("associatedInputs") != "none":
            data.update(inputs or {})
        return self.card_action(user, data, verb=action.get("verb", ""), **options)

    def _task(
        self, name: str, user: TeamsUser, data: JSON, *, reply_to_id: str | None, conversation_id: str | None
    ) -> JSON:
        activity = self._common(user, conversation_id=conversation_id, activity_id=None)
        activity.update(
            type="invoke",
            name=name,
            value={"type": name, "data": data, "context": {"theme": "default"}},
            locale="en-GB",
            entities=[{"type": "clientInfo", "locale": "en-GB", "platform": "Web", "timezone": "Europe/Lisbon"}],
        )
        if reply_to_id:
            activity["replyToId"] = reply_to_id
        return activity

    def task_fetch(
        self,
        user: TeamsUser,
        action: JSON,
        *,
        reply_to_id: str | None = "1700000000000",
        conversation_id: str | None = None,
    ) -> JSON:
        """A click on a card's `Action.Submit` that asks for a dialog (`msteams: {type: task/fetch}`):
        invoke `task/fetch`, whose `value.data` is the action's data, `msteams` included."""
        assert action["type"] == "Action.Submit" and action["data"]["msteams"]["type"] == "task/fetch", action
        return self._task("task/fetch", user, action["data"], reply_to_id=reply_to_id, conversation_id=conversation_id)

    def task_submit(self, user: TeamsUser, action: JSON, inputs: JSON, *, conversation_id: str | None = None) -> JSON:
        """The dialog's form sent (`Action.Submit` in the dialog's card): invoke `task/submit` with the
        action's data and the form's inputs, by id."""
        assert action["type"] == "Action.Submit", action
        return self._task(
            "task/submit", user, {**action["data"], **inputs}, reply_to_id=None, conversation_id=conversation_id
        )

    def invoke(self, user: TeamsUser, name: str, value: JSON, *, reply_to_id: str | None = None) -> JSON:
        """An invoke activity named `name` (its answer is the HTTP response) carrying `value`."""
        activity = self._common(user, conversation_id=None, activity_id=None)
        activity.update(type="invoke", name=name, value=value, locale="en-GB")
        if reply_to_id is not None:
            activity["replyToId"] = reply_to_id
        return activity

    def dialog_open(self, user: TeamsUser, data: JSON, *, reply_to_id: str | None = None) -> JSON:
        """A click on an `Action.Submit` whose data asks for a dialog (`msteams.type` "task/fetch"):
        invoke `task/fetch` with the action's data, as Teams sends it, `msteams` included."""
        return self.invoke(user, "task/fetch", {"data": data, "context": {"theme": "default"}}, reply_to_id=reply_to_id)

    def dialog_submit(self, user: TeamsUser, data: JSON) -> JSON:
        """A dialog's card submitted: invoke `task/submit`, the action's data merged with the inputs' values."""
        return self.invoke(user, "task/submit", {"data": data, "context": {"theme": "default"}})

    def installation_update(self, user: TeamsUser, *, action: str = "add", activity_id: str | None = None) -> JSON:
        """The person installed (or removed) the app in their personal scope."""
        activity = self._common(user, conversation_id=None, activity_id=activity_id or f"f:{uuid.uuid4()}")
        activity.update(
            type="installationUpdate",
            action=action,
            locale="en-GB",
            entities=[{"type": "clientInfo", "locale": "en-GB", "platform": "Web"}],
        )
        activity["channelData"]["source"] = {"name": "message"}
        return activity

    def bot_added(self, user: TeamsUser, *, activity_id: str | None = None) -> JSON:
        """Teams' other announcement of a personal install: the bot joined the person's 1:1 chat."""
        activity = self._common(user, conversation_id=None, activity_id=activity_id or f"f:{uuid.uuid4()}")
        activity.update(type="conversationUpdate", membersAdded=[{"id": f"28:{self.client_id}"}])
        return activity
