"""Send requests to the app exactly as Slack does: same content types, same fields, signed with the
signing secret (v0 HMAC-SHA256 over `v0:{timestamp}:{body}`) and a timestamp header."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from flask.testing import FlaskClient
from slack_sdk.signature import SignatureVerifier
from werkzeug.test import TestResponse

_counter = itertools.count(1)


class SlackRequests:
    def __init__(self, client: FlaskClient, signing_secret: str, *, team_id: str, response_base: str) -> None:
        self.client = client
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id
        # respond() posts to response_url; pointing it at the fake records those replies too.
        self.response_base = response_base

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=body)
        return self.client.post(
            "/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
                **(headers or {}),
            },
        )

    def response_url(self) -> str:
        return f"{self.response_base}response_url.{next(_counter)}"

    def command(self, command: str, text: str = "", *, user_id: str = "U0ANA", **kwargs: Any) -> TestResponse:
        fields = slash_command_fields(
            command, text, user_id=user_id, team_id=self.team_id, response_url=self.response_url()
        )
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None, **kwargs: Any
    ) -> TestResponse:
        envelope = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": "A0EMPATHY",
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_counter):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "UBOT", "is_bot": True}],
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(json.dumps(envelope), "application/json", headers=headers, **kwargs)

    def app_home_opened(self, user_id: str, **kwargs: Any) -> TestResponse:
        return self.event({"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home"}, **kwargs)

    def interaction(self, payload: dict[str, Any], **kwargs: Any) -> TestResponse:
        payload = {"team": {"id": self.team_id, "domain": "testworkspace"}, "api_app_id": "A0EMPATHY", **payload}
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs)

    def block_action(
        self, action_id: str, value: str = "", *, user_id: str = "U0ANA", block_id: str = "b", **kwargs: Any
    ) -> TestResponse:
        return self.interaction(
            {
                "type": "block_actions",
                "user": {"id": user_id, "team_id": self.team_id},
                "trigger_id": f"{next(_counter)}.trigger",
                "container": {"type": "message", "channel_id": "D0ANA", "message_ts": "1700000000.000100"},
                "channel": {"id": "D0ANA"},
                "response_url": self.response_url(),
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": block_id,
                        "value": value,
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            },
            **kwargs,
        )

    def view_submission(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        user_id: str = "U0ANA",
        private_metadata: str = "",
        **kwargs: Any,
    ) -> TestResponse:
        return self.interaction(
            {
                "type": "view_submission",
                "user": {"id": user_id, "team_id": self.team_id},
                "trigger_id": f"{next(_counter)}.trigger",
                "view": {
                    "id": f"V{next(_counter):08d}",
                    "type": "modal",
                    "callback_id": callback_id,
                    "private_metadata": private_metadata,
                    "state": {"values": values},
                },
            },
            **kwargs,
        )


def slash_command_fields(command: str, text: str, *, user_id: str, team_id: str, response_url: str) -> dict[str, str]:
    """A slash command's fields as Slack sends them (form-encoded over HTTP, JSON over Socket Mode)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "testworkspace",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0EMPATHY",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{next(_counter)}.trigger",
    }
