"""Abuse run: the fuzz tests of tests/test_abuse.py with many more examples, and how many inputs they tried.

    .venv/bin/python -m benchmarks.abuse                     # 300 examples per test, SQLite
    .venv/bin/python -m benchmarks.abuse --examples 1000

Every slash command in manifest.yml gets random text, every modal those commands open gets random
values drawn from its own blocks, and every button a command shows gets clicked by random people. A
run fails if any request crashed (an ERROR log saying "unexpected", or a non-200) or any Web API body
or reply carried a broadcast mention (`<!channel>`, `<!here>`, `<!everyone>`, a user group) made from
user text. The oversized, malformed, forged, replayed and non-admin checks run too, once each.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="hypothesis examples per fuzz test (default 300)")
    args = parser.parse_args(argv)
    env = {**os.environ, "EMPATHY_FUZZ_EXAMPLES": str(args.examples)}
    env.pop("EMPATHY_TEST_DATABASE_URL", None)  # SQLite only: the PostgreSQL variants would double the time
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            "tests/test_abuse.py",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    passing = sum(int(n) for n in re.findall(r"(\d+) passing examples", run.stdout))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing examples", run.stdout))
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "no output"
    print(f"examples per fuzz test: {args.examples}")
    print(f"inputs tried (hypothesis, all phases): {passing + failing:,} ({failing} failing)")
    print(f"pytest: {summary}")
    print(f"time: {seconds:.0f} s")
    print(f"RESULT: {'OK' if run.returncode == 0 and failing == 0 else 'FAILED'}")
    if run.returncode != 0:
        print(run.stdout[-4000:])
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
