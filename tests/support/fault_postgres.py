"""A throw-away PostgreSQL server that a test or benchmark may stop and start at will (database outages).

Like .ci/start-postgres: `initdb` into a temporary directory (as an unprivileged user when run as root,
since initdb refuses root), trust auth on 127.0.0.1, a free port. Unlike it, the listen address and port
go into postgresql.conf, so `stop()` then `start()` brings the same server back on the same URL.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.ports import free_port

RUN_AS_USER = "empathyci"  # the user .ci/start-postgres creates when run as root


def pg_bin(name: str) -> str | None:
    """Path of a PostgreSQL server program (pg_ctl, initdb), or None when not installed."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def available() -> bool:
    return pg_bin("pg_ctl") is not None and pg_bin("initdb") is not None


class ThrowawayPostgres:
    """`with ThrowawayPostgres() as pg:` a running server at `pg.url`; `pg.stop()` / `pg.start()` in between."""

    def __init__(self) -> None:
        pg_ctl, initdb = pg_bin("pg_ctl"), pg_bin("initdb")
        if pg_ctl is None or initdb is None:
            raise RuntimeError("PostgreSQL's pg_ctl/initdb are not installed")
        self._pg_ctl, self._initdb = pg_ctl, initdb
        self.directory = Path(tempfile.mkdtemp(prefix="empathy-outage-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            if subprocess.run(["id", RUN_AS_USER], capture_output=True, check=False).returncode != 0:
                subprocess.run(
                    ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS_USER],
                    check=True,
                    capture_output=True,
                )
            shutil.chown(self.directory, user=RUN_AS_USER)
            self._run_as = ["runuser", "-u", RUN_AS_USER, "--"]
        self._initialise()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._run_as, *command], capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()[-500:]}")

    def _initialise(self) -> None:
        self._run(self._initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.directory}'\nfsync = off\nmax_connections = 100\n"
            )

    def start(self) -> None:
        self._run(
            self._pg_ctl, "-D", str(self.data), "-l", str(self.directory / "postgres.log"), "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        # Fast: open connections are cut at once, as when a database host goes away.
        self._run(self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        result = subprocess.run(
            [*self._run_as, self._pg_ctl, "-D", str(self.data), "status"], capture_output=True, check=False
        )
        return result.returncode == 0

    def destroy(self) -> None:
        if self.running():
            subprocess.run(
                [*self._run_as, self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.destroy()
