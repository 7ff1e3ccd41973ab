"""Teams' front door, `POST /api/messages`, through the real SDK with authentication on."""

from __future__ import annotations

from tests.fakes.teams.connector import FakeBotConnector
from tests.fakes.teams.requests import TeamsRequests
from tests.scenarios.teams.conftest import ANA


def test_smoke(teams: TeamsRequests, connector: FakeBotConnector) -> None:
    answer = teams.post(teams.message(ANA, "help"))
    print(answer, connector.calls, connector.refusals)
    assert answer.status == 200
