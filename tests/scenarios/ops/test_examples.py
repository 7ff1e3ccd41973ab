"""Every file in examples/ goes through the real command line, as the README tells a new company to."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import main
from bot.core.models import Person
from bot.kudos.models import CompanyValue
from bot.onboarding.service import current_templates
from surveys.models import CustomPack
from tests.fakes.slack.api import FakeSlack
from tests.scenarios.ops import test_cli
from tests.support.paths import ROOT

EXAMPLES = ROOT / "examples"
cli_env = test_cli.cli_env


def test_the_examples_folder_holds_what_the_readme_links(cli_env: dict[str, str]) -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    shipped = sorted(p.name for p in EXAMPLES.iterdir())
    assert shipped == ["onboarding.yml", "org.csv", "question-pack.yml", "values.yml"]
    for name in shipped:
        assert f"examples/{name}" in readme, f"the README does not point to examples/{name}"
    assert "../shared" not in readme


def test_each_example_imports_through_the_real_cli(
    cli_env: dict[str, str],
    slack: FakeSlack,
    session_factory: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    test_cli.seed_slack_users(slack)
    assert main(["org", "import", str(EXAMPLES / "org.csv")]) == 0
    assert main(["onboarding", "import", str(EXAMPLES / "onboarding.yml")]) == 0
    assert main(["kudos", "values-import", str(EXAMPLES / "values.yml")]) == 0
    assert main(["pulse", "packs", "add", str(EXAMPLES / "question-pack.yml")]) == 0
    assert main(["pulse", "schedule", "--packs", "focus,engagement,cbi_work"]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    rows = len((EXAMPLES / "org.csv").read_text().strip().splitlines()) - 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == rows
        workspace_id = session.scalar(select(Person.workspace_id))
        assert {t.name for t in current_templates(session, workspace_id)} >= {"default"}
        assert "Teamwork" in set(session.scalars(select(CompanyValue.name)))
        assert session.scalar(select(CustomPack.pack_id)) == "focus"
