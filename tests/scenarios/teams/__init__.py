"""Teams scenarios: the real microsoft-teams-apps SDK, authentication on, against tests/fakes/teams."""
