"""An in-process stand-in for the Slack Web API, for the no-Slack demo.

It is a real `slack_sdk.WebClient` whose transport is replaced: every method the bot calls is
answered here and recorded, so the demo runs the same jobs, outbox and renderers as production
without a network or a workspace.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.web.slack_response import SlackResponse


class StandInSlack(WebClient):
    def __init__(self) -> None:
        super().__init__(token="xoxb-demo-stand-in")
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel → messages posted
        self.files: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # user → last published Home view
        self.calls: dict[str, int] = {}

    def api_call(  # type: ignore[override]
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        body = {**(params or {}), **(data or {}), **(json or {})}
        with self._lock:
            self.calls[api_method] = self.calls.get(api_method, 0) + 1
            payload = self._answer(api_method, body)
        return SlackResponse(
            client=self,
            http_verb=http_verb,
            api_url=api_method,
            req_args=body,
            data=payload,
            headers={},
            status_code=200,
        )

    def files_upload_v2(self, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        with self._lock:
            self.calls["files.upload_v2"] = self.calls.get("files.upload_v2", 0) + 1
            self.files.append(dict(kwargs))
            file_id = f"F{len(self.files):07d}"
        return SlackResponse(
            client=self, http_verb="POST", api_url="files.completeUploadExternal", req_args={},
            data={"ok": True, "files": [{"id": file_id}]}, headers={}, status_code=200,
        )  # fmt: skip

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "team_id": "TDEMO", "team": "Demo Company", "user_id": "UBOT", "bot_id": "BDEMO"}
        if method == "team.info":
            return {"ok": True, "team": {"id": "TDEMO", "name": "Demo Company"}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(body.get("users", "")).lstrip("U")}}
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            channel = str(body["channel"])
            self.messages.setdefault(channel, []).append({**body, "ts": ts})
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "views.publish":
            self.views[str(body.get("user_id"))] = body.get("view") or {}
            return {"ok": True, "view": {"id": "VDEMO"}}
        if method == "conversations.history":
            return {"ok": True, "messages": [], "has_more": False}
        return {"ok": True}
