"""`empathy-bot teams package`: the zip an IT admin uploads to Teams (manifest.json and both icons).

Everything is checked before anything is written, and the zip is written beside its final name and
then renamed, so bad input or a failed write never leaves a half-made package behind.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from handlers.teams import manifest as teams_manifest
from handlers.teams.manifest import COLOR_ICON, OUTLINE_ICON, ManifestError

ICONS = Path(__file__).resolve().parent
# A fixed timestamp in the zip entries: the same inputs give the same bytes, so a re-run is recognisable.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


class PackageError(ValueError):
    """The package could not be made; `str()` is one line that says what to do."""


@dataclass(frozen=True)
class Package:
    path: Path
    app_id: str
    manifest: dict[str, Any]


def project_version() -> str:
    try:
        return installed_version("empathy-bot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.1.0"


def package_bytes(manifest: dict[str, Any]) -> bytes:
    """The zip: manifest.json, color.png and outline.png at its root, as Teams requires."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = [
            ("manifest.json", (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")),
            (COLOR_ICON, (ICONS / COLOR_ICON).read_bytes()),
            (OUTLINE_ICON, (ICONS / OUTLINE_ICON).read_bytes()),
        ]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def build(
    *,
    client_id: str | None,
    host: str | None,
    app_id: str | None = None,
    website_url: str | None = None,
    privacy_url: str | None = None,
    terms_url: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The checked manifest for this deployment; raises `PackageError` with what to fix."""
    try:
        client = teams_manifest.client_id(client_id)
        public_host = teams_manifest.host(host)
        pages = teams_manifest.links(public_host, website=website_url, privacy=privacy_url, terms=terms_url)
        app = teams_manifest.app_id(client, app_id)
    except ManifestError as error:
        raise PackageError(str(error)) from None
    return teams_manifest.build_manifest(
        client=client, public_host=public_host, app=app, version=version or project_version(), pages=pages
    )


def write_package(out: Path, manifest: dict[str, Any]) -> Package:
    """Write the zip for a checked manifest (`build`) to `out`, replacing it; all or nothing."""
    data = package_bytes(manifest)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise PackageError(f"can't write {out}: the folder {folder} does not exist; create it or give another --out")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise PackageError(f"can't write {out}: {error.strerror or error}; give another --out") from None
    return Package(path=out, app_id=manifest["id"], manifest=manifest)
