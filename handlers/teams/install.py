"""Installing the bot's app for a person through Graph, so the bot can write to them first.

Teams lets a bot open a 1:1 chat only with someone who has the app installed. An admin's app setup
policy does that for everyone at no cost; where there is none, the bot installs the app for each
person it must reach (`POST /users/{id}/teamwork/installedApps`). Each outcome says, in words HR can
act on, why a person could not be reached. The Teams sender asks `GraphInstaller` when Teams refuses to
open a chat with someone who does not have the app (`handlers.teams.sender.TeamsSender.open_direct`).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

from handlers.teams.graph import GraphClient, GraphError, GraphNotFound, GraphPermissionError

INSTALL_PERMISSION = "TeamsAppInstallation.ReadWriteSelfForUser.All"
CATALOG_PERMISSION = "AppCatalog.Read.All"


class InstallOutcome(enum.StrEnum):
    INSTALLED = "installed"
    ALREADY_INSTALLED = "already installed"
    NOT_PERMITTED = "not permitted"


@dataclass(frozen=True)
class InstallResult:
    outcome: InstallOutcome
    reason: str = ""  # for NOT_PERMITTED: why, and what an admin can do

    @property
    def reachable(self) -> bool:
        return self.outcome is not InstallOutcome.NOT_PERMITTED


def find_catalog_app(graph: GraphClient, manifest_id: str) -> str | None:
    """The org catalog's id of our app (not the manifest's id: the catalog makes its own), or None when
    nobody has uploaded the package yet."""
    quoted = manifest_id.replace("'", "''")
    page = graph.get(
        "appCatalogs/teamsApps", params={"$filter": f"externalId eq '{quoted}'"}, permission=CATALOG_PERMISSION
    )
    apps = page.get("value") or []
    return str(apps[0]["id"]) if apps else None


def install_for_user(graph: GraphClient, user_id: str, catalog_app_id: str) -> InstallResult:
    """Install the app in the person's personal scope (`user_id`: their Entra object id).

    Raises `GraphError` only for what waiting may fix (Graph kept throttling or failing); a refusal
    comes back as NOT_PERMITTED with its reason."""
    body = {"teamsApp@odata.bind": f"{graph.base_url}/appCatalogs/teamsApps/{catalog_app_id}"}
    try:
        graph.post(f"users/{user_id}/teamwork/installedApps", body, permission=INSTALL_PERMISSION)
    except GraphPermissionError:
        return InstallResult(
            InstallOutcome.NOT_PERMITTED,
            f"the bot may not install its app for people: an Entra admin can grant the {INSTALL_PERMISSION} "
            "application permission with admin consent, or install the app for everyone with a Teams app "
            "setup policy in the Teams admin center",
        )
    except GraphNotFound:
        return InstallResult(
            InstallOutcome.NOT_PERMITTED,
            "Teams does not know this person or the app: check they have a Teams licence, and that the app "
            "package is uploaded to your org's app catalog in the Teams admin center",
        )
    except GraphError as error:
        if error.status == 409:  # Graph's answer for an app that is installed already
            return InstallResult(InstallOutcome.ALREADY_INSTALLED)
        if 400 <= error.status < 500 and error.status != 429:
            return InstallResult(
                InstallOutcome.NOT_PERMITTED,
                f"Teams refused to install the app for this person ({error.status} {error.code}); an app "
                "permission policy may block the app for them: check it in the Teams admin center",
            )
        raise
    return InstallResult(InstallOutcome.INSTALLED)


class GraphInstaller:
    """Installs the app for one person at a time, finding the app in the org catalog once (by the
    manifest's id). An app not in the catalog yet is NOT_PERMITTED, with what to do about it."""

    def __init__(self, graph: GraphClient, manifest_id: str) -> None:
        self.graph = graph
        self.manifest_id = manifest_id
        self._catalog_id: str | None = None
        self._lock = threading.Lock()

    def __call__(self, user_id: str) -> InstallResult:
        try:
            catalog_id = self._catalog_app()
        except GraphPermissionError:
            return InstallResult(
                InstallOutcome.NOT_PERMITTED,
                f"the bot may not look up its app in the org catalog: an Entra admin can grant the "
                f"{CATALOG_PERMISSION} application permission with admin consent, or install the app for "
                "everyone with a Teams app setup policy in the Teams admin center",
            )
        if catalog_id is None:
            return InstallResult(
                InstallOutcome.NOT_PERMITTED,
                "the app is not in your org's app catalog yet: upload the package (`empathy-bot teams package`) "
                "in the Teams admin center, then install it for everyone with an app setup policy",
            )
        return install_for_user(self.graph, user_id, catalog_id)

    def _catalog_app(self) -> str | None:
        with self._lock:
            if self._catalog_id is None:
                self._catalog_id = find_catalog_app(self.graph, self.manifest_id)
            return self._catalog_id
