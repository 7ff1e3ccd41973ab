"""The rules of the house, checked on every run (README: Development → House rules).

1. The domain (`bot/`, `surveys/`) never imports a chat platform's SDK or a platform package
   (`handlers/`), except the composition roots that wire a platform in (the CLI, the demo, the
   HTTP server).
2. A platform package never imports another platform's SDK.
3. No import cycles between modules, counting imports made inside functions: a lazy import hides a
   cycle from Python at start-up, not from the reader.
4. The domain's layers only import downward: kernel (`bot/core`) < delivery (`bot/delivery`, the
   feature record) < pulse and digests (`surveys`) < the other features, which never import each
   other < what assembles them (registry, digests, privacy, metrics) < the composition roots.

Today's exceptions are listed below. The lists may only shrink: an exception that no longer occurs
fails the test too, so whoever removes one also deletes its line. A walk of the source with `ast`
rather than a linter plugin, so that the rules read as Python and run without another dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "surveys", "handlers")
PLATFORM_SDKS = ("slack_sdk", "slack_bolt", "botbuilder", "microsoft_teams", "microsoft.teams")
# Composition roots: where the domain and a platform are put together. The CLI (with the HTTP server,
# doctor, which checks the platform's install too, and the list of configured platforms), the demo, and
# the schema (Alembic manages the platform's OAuth tables with ours). Nothing in the domain imports them.
ROOTS = ("bot.cli", "bot.demo", "bot.schema")

# Rule 4, the floors of the domain, lowest first. A module may import its own floor or any floor below,
# never one above; on the features' floor, a feature imports no other feature. The pulse and digest
# domain (`surveys`) sits under the other features because they add their sections to its digests.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("bot.core",),
    ("bot.delivery", "bot.features"),
    ("surveys",),
    ("bot.org", "bot.kudos", "bot.suggestions", "bot.onboarding"),
    ("bot.registry", "bot.digest_sections", "bot.digest_jobs", "bot.privacy", "bot.metrics", "bot.jobs", "bot.home"),
    ROOTS,
)
FEATURES_FLOOR = 3

# Rule 1's exceptions: (module, what it imports). Each goes when its code moves behind the platform seam.
DOMAIN_IMPORTS_PLATFORM: set[tuple[str, str]] = set()

# Rule 3's exceptions: each cycle as the sorted tuple of its modules.
CYCLES: set[tuple[str, ...]] = set()


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every module `name` imports, at any depth of its code, resolved to our modules or SDK roots."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            yield _ours(target, known) or target


def _ours(target: str, known: set[str]) -> str | None:
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) - {name} for name, path in modules.items()}


def _is_platform(target: str) -> bool:
    return target == "handlers" or target.startswith("handlers.") or target.startswith(PLATFORM_SDKS)


def _is_root(name: str) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in ROOTS)


def domain_imports_of_platforms(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (name, target)
        for name, targets in graph.items()
        if name.split(".")[0] in ("bot", "surveys") and not _is_root(name)
        for target in targets
        if _is_platform(target)
    }


def platform_imports_of_other_platforms(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """`handlers.<platform>` modules importing another platform's package or SDK (the package
    `handlers.slack` may use slack_sdk and slack_bolt; anything else Slack-side counts as Slack's)."""
    own = {"slack": ("slack_sdk", "slack_bolt", "handlers.slack"), "teams": ("microsoft_teams", "handlers.teams")}
    broken: set[tuple[str, str]] = set()
    for name, targets in graph.items():
        if not name.startswith("handlers."):
            continue
        platform = "teams" if name.startswith("handlers.teams") else "slack"
        foreign = tuple(prefix for other, prefixes in own.items() if other != platform for prefix in prefixes)
        broken |= {(name, target) for target in targets if target.startswith(foreign)}
    return broken


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[tuple[str, ...]] = set()
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start] & graph.keys())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child] & graph.keys()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(tuple(sorted(component)))
    return found


def test_the_domain_imports_no_platform_outside_the_composition_roots() -> None:
    assert imports_running_up({"bot.core.models": {"bot.kudos.models"}, "bot.kudos.service": {"bot.onboarding"}}) == {
        ("bot.core.models", "bot.kudos.models"),
        ("bot.kudos.service", "bot.onboarding"),
    }
    assert domain_imports_of_platforms(_graph()) == DOMAIN_IMPORTS_PLATFORM


def test_no_platform_package_imports_another_platform() -> None:
    assert platform_imports_of_other_platforms(_graph()) == set()


def _floor(module: str) -> tuple[int, str] | None:
    for number, packages in enumerate(FLOORS):
        for package in packages:
            if module == package or module.startswith(f"{package}."):
                return number, package
    return None


def imports_running_up(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Domain imports that reach a higher floor, or another feature on the features' floor."""
    broken: set[tuple[str, str]] = set()
    for name, targets in graph.items():
        here = _floor(name)
        if here is None:
            continue
        for target in targets:
            there = _floor(target)
            if there is None:
                continue
            if there[0] > here[0] or (there[0] == here[0] == FEATURES_FLOOR and there[1] != here[1]):
                broken.add((name, target))
    return broken


def test_every_domain_module_has_a_floor() -> None:
    unplaced = {name for name in _graph() if name.split(".")[0] in ("bot", "surveys") and _floor(name) is None}
    assert unplaced == {"bot"}  # the package itself, which holds nothing


def test_layers_only_import_downward() -> None:
    assert imports_running_up(_graph()) == set()


def test_no_import_cycles() -> None:
    assert cycles(_graph()) == CYCLES


def test_the_walk_sees_what_it_must() -> None:
    """The checks above pass trivially if the walk finds nothing: it must see a known import, a lazy one,
    a relative one, and a planted cycle."""
    graph = _graph()
    assert "bot.core.models" in graph["bot.privacy"]
    assert "bot.cli.doctor" in graph["bot.cli.main"]  # imported inside cmd_doctor
    assert "slack_sdk.errors" in graph["bot.cli.main"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
    assert imports_running_up({"bot.core.models": {"bot.kudos.models"}, "bot.kudos.service": {"bot.onboarding"}}) == {
        ("bot.core.models", "bot.kudos.models"),
        ("bot.kudos.service", "bot.onboarding"),
    }
    assert domain_imports_of_platforms(
        {"bot.x": {"handlers.slack.listeners.kudos"}, "bot.cli.main": {"slack_sdk"}}
    ) == {("bot.x", "handlers.slack.listeners.kudos")}
