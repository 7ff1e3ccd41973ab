"""The Graph client's edges, looking people up by email, Windows time zones, and installing the app for
a person: the real client against the fake Graph."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from handlers.teams.directory import TeamsDirectory
from handlers.teams.graph import GraphClient, GraphError, GraphPermissionError, msal_token_provider
from handlers.teams.install import INSTALL_PERMISSION, InstallOutcome, find_catalog_app, install_for_user
from handlers.teams.timezones import to_iana
from tests.fakes.teams.graph import TOKEN, FakeGraph
from tests.fakes.teams.login import FakeLogin

MANIFEST_ID = "3f7a2c44-5d5e-4a51-9c1b-6f0f2b1d9e10"
CATALOG_ID = "e3e4f1a2-catalog-app"
ADA = "6e1c0b7a-0000-4000-8000-000000000001"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def client(graph: FakeGraph) -> GraphClient:
    return GraphClient(graph.api_url, lambda: TOKEN, sleep=lambda _s: None)


# -- time zones ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("UTC", "Etc/UTC"),
        ("Europe/Lisbon", "Europe/Lisbon"),  # an admin may have chosen IANA names for the tenant
        (" Tokyo Standard Time ", "Asia/Tokyo"),
        ("Mars Standard Time", None),
        ("", None),
        (None, None),
    ],
)
def test_windows_time_zones_become_iana_names(name: str | None, iana: str | None) -> None:
    assert to_iana(name) == iana


# -- the client ----------------------------------------------------------------------------------------


def test_a_token_graph_does_not_accept_is_a_clear_refusal(graph: FakeGraph) -> None:
    client = GraphClient(graph.api_url, lambda: "not-the-token")

    with pytest.raises(GraphPermissionError) as refused:
        client.get("users", permission="User.Read.All")

    assert refused.value.status == 401
    assert str(refused.value).startswith(
        "Microsoft Graph refused GET /users (401 InvalidAuthenticationToken): the app needs the User.Read.All "
        "application permission with admin consent."
    )
    assert "check TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID" in str(refused.value)
    assert "not-the-token" not in str(refused.value)


def test_the_token_is_not_sent_to_a_next_link_on_another_host(graph: FakeGraph) -> None:
    for n in range(3):
        graph.add_user(f"user-{n}", f"Person {n}", mail=f"p{n}@contoso.com")
    graph.page_size = 2
    # The fake's next links name 127.0.0.1; a client configured with "localhost" must not follow them.
    client = GraphClient(graph.api_url.replace("127.0.0.1", "localhost"), lambda: TOKEN)
    pages = client.pages("users", permission="User.Read.All")

    assert len(next(pages)) == 2
    with pytest.raises(GraphError, match="next-page link to another host"):
        next(pages)
    assert len(graph.requests) == 1


def test_an_unreachable_graph_is_retried_a_few_times_then_said_plainly() -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    waits: list[float] = []
    client = GraphClient(f"http://127.0.0.1:{port}/v1.0", lambda: TOKEN, sleep=waits.append)

    with pytest.raises(
        GraphError, match=r"^Could not reach Microsoft Graph at http://127.0.0.1:\d+ \(GET /users: ConnectError\)"
    ):
        client.get("users", params={"$filter": "mail eq 'secret@contoso.com'"}, permission="User.Read.All")

    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_an_error_message_never_carries_the_query(graph: FakeGraph, client: GraphClient) -> None:
    graph.fail("^/users$", 500)

    with pytest.raises(GraphError) as failed:
        client.get("users", params={"$filter": "mail eq 'someone@contoso.com'"}, permission="User.Read.All")

    assert "someone" not in str(failed.value)
    assert str(failed.value).startswith("Microsoft Graph could not answer GET /users (500 generalException); try again")


# -- looking people up ----------------------------------------------------------------------------------


def test_people_are_found_by_mail_or_sign_in_name_in_any_case(graph: FakeGraph, client: GraphClient) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="Ada@Contoso.com", timezone="GMT Standard Time")
    graph.add_user("boss", "The Boss", mail="boss@contoso.com")
    graph.managers[ADA] = "boss"
    graph.add_user("dev", "Dev Patel", upn="dev@contoso.com")
    graph.add_user("quote", "Liam O'Brien", mail="liam.o'brien@contoso.com")
    graph.add_user("guest", "Gus", mail="gus@partner.example", user_type="Guest")
    directory = TeamsDirectory(client)

    ada = directory.lookup_by_email("ADA@contoso.com")
    assert ada is not None
    assert (ada.user_id, ada.email, ada.name, ada.timezone, ada.manager_id, ada.deleted) == (
        ADA,
        "ada@contoso.com",
        "Ada Lovelace",
        "Europe/London",
        "boss",
        False,
    )
    assert [directory.lookup_by_email(e).user_id for e in ("dev@contoso.com", "liam.o'brien@contoso.com")] == [  # type: ignore[union-attr]
        "dev",
        "quote",
    ]
    guest = directory.lookup_by_email("gus@partner.example")
    assert guest is not None and guest.user_id == "guest", "HR may bring a guest in through the org file"
    assert directory.lookup_by_email("nobody@contoso.com") is None
    filters = [r.query["$filter"] for r in graph.calls("^/users$")]
    assert "mail eq 'liam.o''brien@contoso.com' or userPrincipalName eq 'liam.o''brien@contoso.com'" in filters


# -- installing the app for a person -------------------------------------------------------------------


def test_the_app_is_installed_once_then_reported_as_installed(graph: FakeGraph, client: GraphClient) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="ada@contoso.com")
    graph.add_catalog_app(CATALOG_ID, MANIFEST_ID)
    graph.add_catalog_app("someone-elses-app", "another-manifest-id", "Polls")

    app_id = find_catalog_app(client, MANIFEST_ID)
    first = install_for_user(client, ADA, app_id or "")
    second = install_for_user(client, ADA, app_id or "")

    assert app_id == CATALOG_ID
    assert (first.outcome, first.reachable) == (InstallOutcome.INSTALLED, True)
    assert (second.outcome, second.reachable) == (InstallOutcome.ALREADY_INSTALLED, True)
    assert list(graph.installed[ADA]) == [CATALOG_ID]
    (lookup,) = graph.calls("^/appCatalogs/teamsApps$")
    assert lookup.query["$filter"] == f"externalId eq '{MANIFEST_ID}'"
    posts = graph.calls("/teamwork/installedApps$", method="POST")
    assert [p.body for p in posts] == [
        {"teamsApp@odata.bind": f"{graph.api_url}/appCatalogs/teamsApps/{CATALOG_ID}"}
    ] * 2
    assert [p.status for p in posts] == [201, 409]


def test_an_app_nobody_uploaded_is_not_in_the_catalog(graph: FakeGraph, client: GraphClient) -> None:
    assert find_catalog_app(client, MANIFEST_ID) is None


def test_without_the_install_permission_hr_reads_why_and_what_to_do(graph: FakeGraph, client: GraphClient) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="ada@contoso.com")
    graph.add_catalog_app(CATALOG_ID, MANIFEST_ID)
    graph.deny(INSTALL_PERMISSION)

    result = install_for_user(client, ADA, CATALOG_ID)

    assert (result.outcome, result.reachable) == (InstallOutcome.NOT_PERMITTED, False)
    assert result.reason == (
        "the bot may not install its app for people: an Entra admin can grant the "
        "TeamsAppInstallation.ReadWriteSelfForUser.All application permission with admin consent, or install the "
        "app for everyone with a Teams app setup policy in the Teams admin center"
    )
    assert ADA not in graph.installed


def test_a_person_teams_does_not_know_is_not_reachable_with_the_reason(graph: FakeGraph, client: GraphClient) -> None:
    graph.add_catalog_app(CATALOG_ID, MANIFEST_ID)

    result = install_for_user(client, "no-such-person", CATALOG_ID)

    assert result.outcome is InstallOutcome.NOT_PERMITTED
    assert "Teams licence" in result.reason


def test_installing_waits_out_throttling(graph: FakeGraph) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="ada@contoso.com")
    graph.add_catalog_app(CATALOG_ID, MANIFEST_ID)
    graph.fail("/teamwork/installedApps$", 429, retry_after="3", times=2)
    waits: list[float] = []

    result = install_for_user(GraphClient(graph.api_url, lambda: TOKEN, sleep=waits.append), ADA, CATALOG_ID)

    assert result.outcome is InstallOutcome.INSTALLED
    assert waits == [3.0, 3.0]


# -- the production token: MSAL against a fake Entra login ---------------------------------------------


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLogin]:
    with FakeLogin("tenant-1", "client-1", "secret-1") as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        yield fake


def test_msal_gets_an_app_token_once_and_graph_accepts_it(graph: FakeGraph, login: FakeLogin) -> None:
    graph.add_user(ADA, "Ada Lovelace", mail="ada@contoso.com")
    client = GraphClient(graph.api_url, msal_token_provider("client-1", "secret-1", "tenant-1", login_url=login.url))

    assert [u["id"] for u in client.get("users", permission="User.Read.All")["value"]] == [ADA]
    assert client.get("users", permission="User.Read.All")["value"]

    assert login.token_requests == [
        {
            "client_id": "client-1",
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default",
            "client_info": "1",
        }
    ]
    assert all(r.authorized for r in graph.requests)


def test_a_wrong_client_secret_says_which_settings_to_check(login: FakeLogin) -> None:
    token = msal_token_provider("client-1", "expired-secret", "tenant-1", login_url=login.url)

    with pytest.raises(GraphError) as refused:
        token()

    assert str(refused.value) == (
        "Entra would not give the app a Microsoft Graph token (invalid_client): check TEAMS_CLIENT_ID, "
        "TEAMS_CLIENT_SECRET (it may have expired: make a new one under Certificates & secrets) and TEAMS_TENANT_ID"
    )
    assert "expired-secret" not in str(refused.value)


def test_an_unknown_tenant_says_to_check_the_tenant_id(login: FakeLogin) -> None:
    token = msal_token_provider("client-1", "secret-1", "not-our-tenant", login_url=login.url)

    with pytest.raises(
        GraphError,
        match=r"^Could not get a Microsoft Graph token from https://127\.0\.0\.1:\d+ \(ValueError\): check the network and TEAMS_TENANT_ID$",
    ):
        token()
