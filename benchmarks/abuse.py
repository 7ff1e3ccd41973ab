"""Abuse run: the fuzz tests of tests/scenarios/privacy/test_abuse.py with many more examples, and how many inputs they tried.

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
import sys
import time

import pytest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="hypothesis examples per fuzz test (default 300)")
    args = parser.parse_args(argv)
    os.environ["EMPATHY_FUZZ_EXAMPLES"] = str(args.examples)
    os.environ.pop("EMPATHY_TEST_DATABASE_URL", None)  # SQLite only: PostgreSQL variants would double the time
    started = time.monotonic()
    # In this process, so the test module's counter of inputs sent can be read afterwards.
    code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/scenarios/privacy/test_abuse.py"])
    seconds = time.monotonic() - started
    from tests.scenarios.privacy.test_abuse import TRIED

    print(f"\nexamples per fuzz test: {args.examples}")
    for kind, count in sorted(TRIED.items()):
        print(f"  {kind}: {count:,} inputs")
    print(f"inputs tried: {sum(TRIED.values()):,} in {seconds:.0f} s")
    print(f"RESULT: {'OK' if code == 0 else 'FAILED'}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
