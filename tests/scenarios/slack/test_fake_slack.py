"""The fake Slack server, checked through the real slack_sdk WebClient: if these pass, the rest
of the suite can trust what the fake records and answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack.api import _METHOD_SCOPES, FakeSlack, manifest_scopes


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T0001", bot_user_id="UBOT") as fake:
        yield fake


@pytest.fixture
def fake(_server: FakeSlack) -> FakeSlack:
    _server.reset()
    return _server


def client(fake: FakeSlack, token: str = "xoxb-test") -> WebClient:
    # No retry handlers: a failure the fake injects must reach the test, not be retried away.
    return WebClient(base_url=fake.url, token=token, retry_handlers=[])


def test_records_method_parsed_body_and_token(fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    web = client(fake)

    web.chat_postMessage(channel="C1", text="hello", blocks=blocks)  # sent as JSON
    form = {"channel": "C2", "text": "[1, 2]", "blocks": json.dumps(blocks)}
    web.api_call("chat.postMessage", params=form)  # form-encoded, as api_call(params=...) sends it

    json_call, form_call = fake.calls
    assert (json_call.method, json_call.token, json_call.status) == ("chat.postMessage", "xoxb-test", 200)
    assert json_call.body == {"channel": "C1", "text": "hello", "blocks": blocks}
    # Form values holding JSON come back decoded; free text that merely looks like JSON does not.
    assert form_call.body == {"channel": "C2", "text": "[1, 2]", "blocks": blocks}
    assert fake.calls_to("chat.postMessage") == [json_call.body, form_call.body]
    assert fake.calls_to("chat.update") == []


def test_users_list_paginates_with_opaque_cursor(fake: FakeSlack) -> None:
    ids = [f"U{n:04d}" for n in range(250)]
    for user_id in ids:
        fake.add_user(user_id, email=f"{user_id.lower()}@example.com")

    # SlackResponse iterates by mutating itself, so copy each page's data out as it goes.
    pages = [dict(page.data) for page in client(fake).users_list(limit=100)]

    assert [len(page["members"]) for page in pages] == [100, 100, 50]
    assert [m["id"] for page in pages for m in page["members"]] == ids
    cursors = [page["response_metadata"]["next_cursor"] for page in pages]
    assert cursors[-1] == ""
    assert cursors[0] and not cursors[0].isdigit()  # opaque, not a bare offset
    assert [body.get("cursor") for body in fake.calls_to("users.list")] == [None, *cursors[:2]]
    assert {body["limit"] for body in fake.calls_to("users.list")} == {"100"}


def test_users_list_default_page_size(fake: FakeSlack) -> None:
    fake.users_page_size = 2
    for n in range(3):
        fake.add_user(f"U{n}")

    first = client(fake).users_list()

    assert [m["id"] for m in first["members"]] == ["U0", "U1"]
    assert first["response_metadata"]["next_cursor"] != ""


def test_add_user_is_slack_shaped(fake: FakeSlack) -> None:
    fake.add_user("U1", email="a@example.com", name="ana", real_name="Ana", tz="America/New_York")

    user = client(fake).users_info(user="U1")["user"]

    assert user["team_id"] == "T0001"
    assert user["profile"]["email"] == "a@example.com"
    assert user["profile"]["real_name"] == "Ana"
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert (user["deleted"], user["is_bot"], user["is_app_user"]) == (False, False, False)


def test_lookup_by_email(fake: FakeSlack) -> None:
    fake.add_user("U1", email="Ana@Example.com")
    web = client(fake)

    assert web.users_lookupByEmail(email="ana@example.COM")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as info:
        web.users_lookupByEmail(email="nobody@example.com")
    assert info.value.response["error"] == "users_not_found"
    with pytest.raises(SlackApiError) as info:
        web.users_info(user="U404")
    assert info.value.response["error"] == "user_not_found"


def test_conversations_open_gives_stable_dm_ids(fake: FakeSlack) -> None:
    fake.add_user("U1")
    fake.add_user("U2")
    web = client(fake)

    first = web.conversations_open(users="U1")["channel"]["id"]
    again = web.conversations_open(users=["U1"])["channel"]["id"]
    other = web.conversations_open(users="U2")["channel"]["id"]

    assert first == again == "D1"
    assert other == "D2"
    fake.scopes += ",im:read"  # (the manifest does not ask for it: the bot never looks a DM up)
    assert web.conversations_info(channel=first)["channel"]["is_im"] is True
    with pytest.raises(SlackApiError) as info:
        web.conversations_open(users="U404")
    assert info.value.response["error"] == "user_not_found"


def test_post_update_delete_and_history_with_metadata(fake: FakeSlack) -> None:
    web = client(fake)
    metadata = {"event_type": "survey_sent", "event_payload": {"survey_id": 7}}

    first = web.chat_postMessage(channel="C1", text="one", metadata=metadata)
    second = web.chat_postMessage(channel="C1", text="two")
    gone = web.chat_postMessage(channel="C1", text="three")
    web.chat_update(channel="C1", ts=first["ts"], text="one, edited")
    web.chat_delete(channel="C1", ts=gone["ts"])

    assert float(first["ts"]) < float(second["ts"]) < float(gone["ts"])
    assert first["message"]["metadata"] == metadata
    assert [m["text"] for m in fake.messages("C1")] == ["one, edited", "two"]

    history = web.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["ts"] for m in history] == [second["ts"], first["ts"]]  # newest first
    assert history[1]["metadata"] == metadata
    plain = web.conversations_history(channel="C1")["messages"]
    assert all("metadata" not in m for m in plain)
    after_first = web.conversations_history(channel="C1", oldest=first["ts"])["messages"]
    assert [m["ts"] for m in after_first] == [second["ts"]]  # bounds are exclusive

    with pytest.raises(SlackApiError) as info:
        web.chat_update(channel="C1", ts=gone["ts"], text="too late")
    assert info.value.response["error"] == "message_not_found"


def test_post_message_validation(fake: FakeSlack) -> None:
    web = client(fake)
    for kwargs, error in (({"channel": "C1"}, "no_text"), ({"channel": "", "text": "x"}, "channel_not_found")):
        with pytest.raises(SlackApiError) as info:
            web.api_call("chat.postMessage", json=kwargs)
        assert info.value.response["error"] == error
    assert fake.messages("C1") == []


def test_fail_next_429_then_success(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    web = client(fake)

    with pytest.raises(SlackApiError) as info:
        web.chat_postMessage(channel="C1", text="hi")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"

    assert web.chat_postMessage(channel="C1", text="hi")["ok"] is True
    assert [c.status for c in fake.calls] == [429, 200]
    assert len(fake.messages("C1")) == 1


def test_fail_next_500(fake: FakeSlack) -> None:
    fake.fail_next("users.list", status=500, times=2)
    web = client(fake)

    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            web.users_list()
        assert info.value.response.status_code == 500
    assert web.users_list()["ok"] is True
    assert [c.status for c in fake.calls] == [500, 500, 200]


def test_error_next_answers_ok_false_once(fake: FakeSlack) -> None:
    fake.error_next("chat.postMessage", "is_archived")
    web = client(fake)

    with pytest.raises(SlackApiError) as info:
        web.chat_postMessage(channel="C1", text="hi")
    assert (info.value.response.status_code, info.value.response["error"]) == (200, "is_archived")
    assert web.chat_postMessage(channel="C1", text="hi")["ok"] is True


def test_auth_errors(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as info:
        client(fake, token="not-a-token").auth_test()
    assert info.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as info:
        WebClient(base_url=fake.url, retry_handlers=[]).api_call("auth.test")
    assert info.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as info:
        client(fake).api_call("nope.never")
    assert info.value.response["error"] == "unknown_method"

    identity = client(fake).auth_test()
    assert (identity["team_id"], identity["user_id"], identity["bot_id"]) == ("T0001", "UBOT", "B0001")


def test_rate_limit_answers_429_beyond_the_rate(fake: FakeSlack) -> None:
    fake.set_rate_limit("chat.postMessage", 60)
    web = client(fake)

    web.chat_postMessage(channel="C1", text="first")
    with pytest.raises(SlackApiError) as info:
        web.chat_postMessage(channel="C1", text="second")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"

    fake.set_rate_limit("chat.postMessage", None)
    web.chat_postMessage(channel="C1", text="third")
    assert [m["text"] for m in fake.messages("C1")] == ["first", "third"]


def test_views(fake: FakeSlack) -> None:
    web = client(fake)
    view = {"type": "home", "blocks": []}

    published = web.views_publish(user_id="U1", view=view)["view"]
    updated = web.views_update(view_id=published["id"], view=view)["view"]

    assert published["id"].startswith("V") and published["type"] == "home"
    assert updated["id"] == published["id"]
    assert fake.calls_to("views.publish") == [{"user_id": "U1", "view": view}]


def test_wait_for_sees_calls_from_other_threads_and_times_out(fake: FakeSlack) -> None:
    web = client(fake)
    thread = threading.Timer(0.1, lambda: web.chat_postMessage(channel="C1", text="later"))
    thread.start()

    assert fake.wait_for("chat.postMessage", timeout=5)[0]["text"] == "later"
    thread.join()

    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*2.*got 1"):
        fake.wait_for("chat.postMessage", count=2, timeout=0.2)
    assert time.monotonic() - started >= 0.2


def test_reset_forgets_everything(fake: FakeSlack) -> None:
    fake.add_user("U1")
    fake.fail_next("auth.test", status=500)
    client(fake).chat_postMessage(channel="C1", text="hi")

    fake.reset()

    assert fake.calls == []
    assert fake.messages("C1") == []
    assert client(fake).auth_test()["ok"] is True
    with pytest.raises(SlackApiError):
        client(fake).users_info(user="U1")


def _header(headers: dict[str, str], name: str) -> str:
    return {key.lower(): value for key, value in headers.items()}[name]


def test_a_call_without_its_scope_is_refused_as_slack_refuses_it(fake: FakeSlack) -> None:
    web = client(fake)
    fake.scopes = "commands,im:write"
    with pytest.raises(SlackApiError) as refused:
        web.chat_postMessage(channel="C1", text="hello")
    answer = refused.value.response
    assert (answer["error"], answer["needed"], answer["provided"]) == (
        "missing_scope",
        "chat:write",
        "commands,im:write",
    )
    assert _header(answer.headers, "x-oauth-scopes") == "commands,im:write"
    assert fake.messages("C1") == []  # refused before anything happened
    assert _header(web.auth_test().headers, "x-oauth-scopes") == "commands,im:write"  # auth.test needs no scope


def test_conversation_methods_need_the_scope_for_the_kind_of_conversation(fake: FakeSlack) -> None:
    web = client(fake)
    fake.revoke("channels:read")
    assert fake.scopes and "channels:read" not in fake.scopes.split(",")
    with pytest.raises(SlackApiError) as refused:
        web.conversations_info(channel="C0PUBLIC")
    assert (refused.value.response["error"], refused.value.response["needed"]) == ("missing_scope", "channels:read")
    fake.scopes += ",groups:read"
    assert web.conversations_info(channel="G0PRIVATE")["ok"]  # a private channel needs groups:read instead
    fake.add_user("U1")
    fake.scopes = "chat:write"
    with pytest.raises(SlackApiError) as refused:
        web.conversations_open(users="U1")
    assert refused.value.response["needed"] == "im:write"


def test_a_fresh_fake_grants_what_the_manifest_asks_for(fake: FakeSlack) -> None:
    assert _header(client(fake).auth_test().headers, "x-oauth-scopes").split(",") == manifest_scopes()


def test_every_method_the_fake_answers_says_which_scope_it_needs(fake: FakeSlack) -> None:
    assert set(fake._handlers) <= set(_METHOD_SCOPES)
