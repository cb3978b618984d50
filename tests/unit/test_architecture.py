"""The house rules a newcomer relies on: imports flow one way, modules stay readable, tests stay tests.

Read from the source with `ast` (nothing is imported), so a circle hidden in a
function body or under `TYPE_CHECKING` counts: it is still two modules that
cannot be understood, or moved, one without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.config import ROOT

PACKAGES = ("src", "app", "deploy", "labs", "benchmarks", "tools", "tests")
MAX_LINES = 400  # a module a newcomer reads in one sitting; tests are exempt (a test file is a list of lessons)
# deploy/'s layers, lowest first: a module may import its own layer or a lower one, never a higher one.
DEPLOY_LAYERS = ("deploy.settings", "deploy.rules", "deploy.render", "deploy.drivers", "deploy.control")
# What each top-level package may import of the project: data flows src -> app -> deploy, never back.
ALLOWED = {
    "src": {"src"},
    "app": {"src", "app"},
    "deploy": {"src", "app", "deploy"},
    "labs": {"src", "app", "deploy", "labs", "tools"},
    "tools": {"src", "app", "deploy", "labs", "tools"},
    "benchmarks": {"src", "app", "deploy", "labs", "tools", "benchmarks"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every project module `name` imports, anywhere in the file; `from pkg import mod` counts as pkg.mod."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import a.b.c` of a name inside a.b: the module a.b
                target = target.rpartition(".")[0]
            if target and target != name and MODULES[target].name != "__init__.py":
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return groups


def test_no_two_modules_import_each_other_even_indirectly():
    circles = _cycles()
    assert not circles, "import circles (each: modules that cannot be read or moved apart): " + "; ".join(
        " <-> ".join(group) for group in circles
    )


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("tests")))
def test_a_module_outside_the_tests_fits_in_one_reading(name: str):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines (> {MAX_LINES}): split it by job"


def test_only_tests_import_the_tests():
    leaks = sorted(
        f"{n} -> {t}" for n, ts in GRAPH.items() if not n.startswith("tests") for t in ts if t.startswith("tests")
    )
    assert not leaks, f"a benchmark, lab or tool depends on test code (move the shared piece to tools/): {leaks}"


def test_imports_flow_down_the_chain_never_back_up():
    wrong = sorted(
        f"{n} -> {t}"
        for n, ts in GRAPH.items()
        if n.split(".")[0] in ALLOWED
        for t in ts
        if t.split(".")[0] not in ALLOWED[n.split(".")[0]]
    )
    assert not wrong, f"an import against the flow src -> app -> deploy (-> labs, tools, benchmarks): {wrong}"


def _layer(name: str) -> int | None:
    return next((i for i, prefix in enumerate(DEPLOY_LAYERS) if name == prefix or name.startswith(prefix + ".")), None)


def test_deploy_layers_import_only_their_own_layer_or_a_lower_one():
    wrong = []
    for name, targets in GRAPH.items():
        here = _layer(name)
        for target in targets:
            there = _layer(target)
            if here is not None and target.startswith("deploy.") and (there is None or there > here):
                wrong.append(f"{name} -> {target}")
    assert not wrong, f"a lower layer of deploy/ reaches up ({' < '.join(DEPLOY_LAYERS)} < commands): {wrong}"


def test_the_settings_are_a_leaf_of_deploy():
    inner = sorted(t for t in GRAPH["deploy.settings"] if t.startswith("deploy."))
    assert not inner, f"deploy/settings.py imports {inner}: every layer reads it, so it may import none of them"


def test_nothing_in_deploy_imports_a_command():
    commands = {n for n in MODULES if n.startswith("deploy.") and n.count(".") == 1 and _layer(n) is None}
    assert commands, "no command modules found under deploy/: the layer test would be vacuous"
    wrong = sorted(f"{n} -> {t}" for n, ts in GRAPH.items() if not n.startswith("tests") for t in ts & commands)
    assert not wrong, f"a command (python -m deploy.<cmd>) is imported as a library: {wrong}"


# httpx makes a TLS context, loading certifi's CA bundle (~27 ms of CPU), for every Client and every httpx.get;
# src/loopback.py makes one per process. A direct call here is that cost again on every poll.
PER_CALL_CLIENTS = {"get", "post", "put", "delete", "request", "stream", "Client", "AsyncClient"}


def _per_call_clients(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        func = node.func if isinstance(node, ast.Call) else None
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "httpx"):
            continue
        if func.attr in PER_CALL_CLIENTS and not (func.attr == "AsyncClient" and _has_transport(node)):
            yield f"{path.relative_to(ROOT)}:{node.lineno} httpx.{func.attr}"


def _has_transport(call: ast.Call) -> bool:
    """An AsyncClient over an in-process transport (ASGITransport) makes no TLS context."""
    return any(keyword.arg == "transport" for keyword in call.keywords)


def test_every_http_client_shares_the_process_tls_context():
    found = [hit for name, path in MODULES.items() if name != "src.loopback" for hit in _per_call_clients(path)]
    assert not found, f"use src.loopback (one TLS context per process, not a CA bundle per call): {found}"
