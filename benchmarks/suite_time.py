"""The demo's wall time and SQL statements, and the test suite's wall time, in two checkouts side by side.

Each figure comes from a child process started in a checkout (this one, and a baseline given with
`--baseline`, e.g. a `git worktree` of an older commit), the two alternated run by run so that a busy
machine slows both alike. The demo's floor is the time its process takes to import what the demo
imports; the suite's target is half the baseline's time in the same run.

Correctness check: the demo's output files must be the same in both checkouts. Two runs of the same
demo already differ in what is drawn at random on purpose (which comments a digest samples, the
random suggestion references, so nobody can be recognised), so those parts are masked before the
comparison; everything else, the PNG charts included, must be identical byte for byte.

    .venv/bin/python -m benchmarks.suite_time --baseline ../wt-old                 # demo, 2 runs each
    .venv/bin/python -m benchmarks.suite_time --baseline ../wt-old --runs 3 --parts # + each part's CPU here
    .venv/bin/python -m benchmarks.suite_time --baseline ../wt-old --suite          # + the SQLite suite
    .venv/bin/python -m benchmarks.suite_time --baseline ../wt-old --suite --quick  # + the suite, -m 'not slow'

With `--workers N` it times only the suite, in this checkout: in one process and spread over N
pytest-xdist workers (`-n N`), alternated `--repeat` times, on the paths given (all of `tests/` by
default), so that the ratio is measured side by side however busy the machine is. Correctness check:
both ways must pass, and pass and skip the same number of tests.

    .venv/bin/python -m benchmarks.suite_time --workers 2 --repeat 2 tests/unit             # SQLite
    .venv/bin/python -m benchmarks.suite_time --workers 2 --postgresql -m 'not slow'        # both databases
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._support import PG_URL_FILE, print_table

HERE = Path(__file__).resolve().parents[1]

# Run in the checkout's directory, so that its code is what runs; prints one JSON line.
_DEMO = """
import json, sys, time
started = time.perf_counter()
from sqlalchemy import Engine, event
statements = 0
def count(*_args):
    global statements
    statements += 1
event.listen(Engine, "before_cursor_execute", count)
from pathlib import Path
from bot.demo.run import run_demo
imported = time.perf_counter()
report = run_demo(Path(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time(), "import": imported - started,
                  "statements": statements, "answers": report.answers, "dms": report.dms}))
"""
# The demo once, each part's CPU seconds and SQL statements counted (process CPU, so the outbox's sending
# threads count in the dispatch job); prints one JSON line: {part: [cpu, statements, calls]}.
_PARTS = """
import json, sys, time
from collections import defaultdict
from sqlalchemy import Engine, event
statements = 0
def count(*_args):
    global statements
    statements += 1
event.listen(Engine, "before_cursor_execute", count)
from pathlib import Path
import bot.demo.run as run, bot.demo.onboarding as onboarding, bot.demo.suggestions as suggestions
import bot.demo.kudos as kudos, bot.demo.teams as teams
parts = defaultdict(lambda: [0.0, 0, 0])
def timed(name, function):
    def wrapper(*args, **kwargs):
        cpu, before = time.process_time(), statements
        try:
            return function(*args, **kwargs)
        finally:
            part = parts[name(*args) if callable(name) else name]
            part[0] += time.process_time() - cpu
            part[1] += statements - before
            part[2] += 1
    return wrapper
# The jobs run inside the people's steps (onboarding, suggestions' nudges) count under the job, not twice.
job = timed(lambda job, *_: "job " + job.name, run.run_job)
run.run_job = onboarding.run_job = suggestions.run_job = job
def own(name, function):
    def wrapper(*args, **kwargs):
        cpu, before = time.process_time(), statements
        jobs_before = {k: list(v) for k, v in parts.items() if k.startswith("job ")}
        try:
            return function(*args, **kwargs)
        finally:
            inner_cpu = sum(v[0] - jobs_before.get(k, [0.0, 0])[0] for k, v in parts.items() if k.startswith("job "))
            inner_statements = sum(v[1] - jobs_before.get(k, [0.0, 0])[1] for k, v in parts.items() if k.startswith("job "))
            part = parts[name]
            part[0] += time.process_time() - cpu - inner_cpu
            part[1] += statements - before - inner_statements
            part[2] += 1
    return wrapper
onboarding.simulate = own("people: onboarding", onboarding.simulate)
suggestions.simulate = own("people: suggestions", suggestions.simulate)
kudos.simulate = own("people: kudos", kudos.simulate)
run.Simulation.answer_delivered_pulses = own("people: pulse answers", run.Simulation.answer_delivered_pulses)
run.Simulation.setup = own("setup", run.Simulation.setup)
run.Simulation.write_outputs = own("writing the files (7 charts drawn)", run.Simulation.write_outputs)
teams.TeamsCards.collect = own("collecting Teams cards", teams.TeamsCards.collect)
started = time.perf_counter()
report = run.run_demo(Path(sys.argv[1]))
parts["total (process)"] = [time.process_time(), statements, 1]
print(json.dumps(parts))
"""
# What the demo imports, and nothing else: the floor of a process that runs it.
_IMPORTS = """
import time
started = time.perf_counter()
import bot.demo.run, bot.delivery.charts, handlers.slack.listeners, handlers.slack.listeners.home
import handlers.teams.listeners.home, handlers.teams.render.message
import matplotlib.pyplot
print(time.perf_counter() - started)
"""


def run_demo(checkout: Path, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _DEMO, str(out)], cwd=checkout, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"the demo failed in {checkout}:\n{result.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def demo_parts(checkout: Path, out: Path) -> dict[str, list[float]]:
    result = subprocess.run(
        [sys.executable, "-c", _PARTS, str(out)], cwd=checkout, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"the demo failed in {checkout}:\n{result.stderr[-3000:]}")
    parts: dict[str, list[float]] = json.loads(result.stdout.strip().splitlines()[-1])
    return parts


def import_floor(checkout: Path) -> float:
    result = subprocess.run([sys.executable, "-c", _IMPORTS], cwd=checkout, capture_output=True, text=True)
    return float(result.stdout.strip())


def _masked(text: str) -> str:
    text = re.sub(r"S-[A-Z0-9]{4}", "S-????", text)  # suggestion references are random
    text = re.sub(r"“[^”]*”", "“…”", text)  # which comments a digest shows is a random sample
    return re.sub(r"reads (positive|neutral|negative|mixed)", "reads …", text)  # ... with their tone


def output_differences(a: Path, b: Path) -> list[str]:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.suffix != ".sqlite3")
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.suffix != ".sqlite3")
    problems = [f"only in one: {name}" for name in sorted(set(files_a) ^ set(files_b))]
    for name in sorted(set(files_a) & set(files_b)):
        x, y = (a / name).read_bytes(), (b / name).read_bytes()
        if x == y:
            continue
        if name.suffix == ".png" or _masked(x.decode()) != _masked(y.decode()):
            problems.append(f"differs: {name}")
    return problems


def run_suite(checkout: Path, *, quick: bool, postgresql: bool, extra: tuple[str, ...] = ()) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EMPATHY_TEST_DATABASE_URL", "PYTEST_XDIST_WORKER")}
    if postgresql:
        env["EMPATHY_TEST_DATABASE_URL"] = Path(PG_URL_FILE).read_text().strip()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + (["-m", "not slow"] if quick else [])
    command += extra
    started = time.perf_counter()
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    return seconds, summary


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


def _counts(summary: str) -> dict[str, int]:
    return {kind: int(number) for number, kind in _COUNTS.findall(summary)}


def compare_workers(workers: int, repeat: int, *, marks: str | None, paths: list[str], postgresql: bool) -> bool:
    """The suite in one process and over `workers` xdist workers, alternated; True if both passed alike."""
    selection = (("-m", marks) if marks else ()) + tuple(paths)
    ways = {"one process": ("-n", "0", *selection), f"-n {workers}": ("-n", str(workers), *selection)}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    summaries: dict[str, set[str]] = {name: set() for name in ways}
    rows: list[tuple[str, str]] = []
    ok = True
    for run in range(repeat):
        order = list(ways) if run % 2 == 0 else list(reversed(ways))
        for name in order:
            load = os.getloadavg()[0]
            # The CPU the run's processes used (pytest, its workers, the CLI subprocesses; not the
            # PostgreSQL server): on a busy machine the wall time says how big a share of the cores the
            # run got; this says how much work it was, and what splitting it over workers added.
            cpu_before = _children_cpu()
            took, summary = run_suite(HERE, quick=False, postgresql=postgresql, extra=ways[name])
            cpu = _children_cpu() - cpu_before
            counts = _counts(summary)
            seconds[name].append(took)
            summaries[name].add(str(sorted((k, v) for k, v in counts.items() if k != "deselected")))
            passed_cleanly = counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("error")
            ok = ok and passed_cleanly and not counts.get("errors")
            rows.append((f"run {run + 1}, {name}", f"{took:.0f} s, CPU {cpu:.0f} s, at load {load:.1f}  ({summary})"))
            print(rows[-1][0], rows[-1][1], flush=True)
    parallel = f"-n {workers}"
    pairs = [b / a for a, b in zip(seconds["one process"], seconds[parallel], strict=True)]
    rows.append((f"{parallel} / one process, run by run", ", ".join(f"{ratio:.2f}×" for ratio in pairs)))
    rows.append(
        (
            "best / best",
            f"{min(seconds[parallel]) / min(seconds['one process']):.2f}× "
            f"({min(seconds['one process']):.0f} s → {min(seconds[parallel]):.0f} s)",
        )
    )
    same = len(summaries["one process"] | summaries[parallel]) == 1
    rows.append(("tests", "the same passed and skipped both ways" if same else "DIFFER between the two ways"))
    print_table(
        f"The test suite in one process and over {workers} workers"
        + (" (SQLite and PostgreSQL)" if postgresql else " (SQLite)"),
        rows,
    )
    return ok and same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit to compare with (the demo)")
    parser.add_argument("--workers", type=int, help="time only the suite: one process against -n WORKERS")
    parser.add_argument("--repeat", type=int, default=2, help="with --workers: runs of each, alternated (default 2)")
    parser.add_argument("-m", dest="marks", help="with --workers: a pytest mark expression, e.g. 'not slow'")
    parser.add_argument("paths", nargs="*", help="with --workers: test paths (default: all of tests/)")
    parser.add_argument("--runs", type=int, default=2, help="demo runs in each checkout, alternated (default 2)")
    parser.add_argument("--parts", action="store_true", help="also run the demo once here with each part timed")
    parser.add_argument("--suite", action="store_true", help="also time the test suite once in each checkout")
    parser.add_argument("--quick", action="store_true", help="and once more here with -m 'not slow'")
    parser.add_argument("--postgresql", action="store_true", help="the suite on PostgreSQL too (from /tmp/pgurl)")
    args = parser.parse_args()
    print("load average at the start:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.workers:
        ok = compare_workers(args.workers, args.repeat, marks=args.marks, paths=args.paths, postgresql=args.postgresql)
        print("load average at the end:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
        if not ok:
            print("RESULT: FAILED")
            return 1
        return 0
    if args.baseline is None:
        parser.error("--baseline is needed for the demo (or --workers for the suite alone)")
    checkouts = {"before": args.baseline.resolve(), "after": HERE}

    work = Path(tempfile.mkdtemp(prefix="suite-time-"))
    failed = False
    try:
        demo: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        floors: list[float] = []
        for run in range(args.runs):
            order = ("before", "after") if run % 2 == 0 else ("after", "before")
            for name in order:
                demo[name].append(run_demo(checkouts[name], work / f"{name}-{run}"))
            floors.append(import_floor(HERE))
        problems = output_differences(work / "before-0", work / "after-0")
        rows = [("import floor (what the demo imports)", ", ".join(f"{s:.1f} s" for s in floors))]
        for name in ("before", "after"):
            runs = demo[name]
            rows.append(
                (
                    f"demo {name}",
                    ", ".join(f"{r['seconds']:.1f} s (CPU {r['cpu']:.1f} s)" for r in runs)
                    + f"; {int(runs[0]['statements']):,} statements",
                )
            )
        before = min(r["seconds"] for r in demo["before"])
        after = min(r["seconds"] for r in demo["after"])
        rows.append(("best after / best before", f"{after / before:.2f}× ({before:.1f} s → {after:.1f} s)"))
        rows.append(("best after / floor", f"{after / min(floors):.1f}×"))
        rows.append(("outputs", "the same (random parts masked)" if not problems else f"{len(problems)} differ"))
        print_table("The demo", rows)
        if problems:
            failed = True
            print("\n".join(problems[:20]))

        if args.parts:
            parts = demo_parts(HERE, work / "parts")
            total = parts.pop("total (process)")
            rows = [
                (name, f"{cpu:5.1f} s CPU ({cpu / total[0]:4.0%}), {int(n):6,} statements, {int(calls):4} runs")
                for name, (cpu, n, calls) in sorted(parts.items(), key=lambda item: -item[1][0])
            ]
            rows.append(
                ("the whole process (imports included)", f"{total[0]:5.1f} s CPU, {int(total[1]):6,} statements")
            )
            print_table("Where the demo's CPU goes (this checkout, one run)", rows)

        if args.suite:
            rows = []
            runs = [("before", False), ("after", False)] + ([("after", True)] if args.quick else [])
            for name, quick in runs:
                seconds, summary = run_suite(checkouts[name], quick=quick, postgresql=args.postgresql)
                label = f"suite {name}" + (" -m 'not slow'" if quick else "")
                rows.append((label, f"{seconds:.0f} s  ({summary})"))
                print(label, rows[-1][1], flush=True)
            print_table("The test suite" + (" (SQLite and PostgreSQL)" if args.postgresql else " (SQLite)"), rows)
        print("load average at the end:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("RESULT: FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
