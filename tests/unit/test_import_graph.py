"""The package's import graph: no cycles, module-level or inside functions, and the
pure parts load neither Ray nor boto3 nor yaml."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "serverless_ray"
ROOT = Path(__file__).parents[2]


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (its file, whether it is a package's ``__init__``)."""
    modules = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere in its source (at module level,
    in functions, under ``TYPE_CHECKING``). ``from pkg import name`` counts as importing
    ``pkg.name`` if that is a module, else ``pkg``."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        imported: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(known(alias.name) for alias in node.names if alias.name.startswith(PACKAGE))
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's package, up level - 1
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.startswith(PACKAGE):
                    for alias in node.names:
                        full = f"{source}.{alias.name}"
                        imported.add(full if full in modules else known(source))
        imported.discard(None)
        imported.discard(module)
        graph[module] = imported  # type: ignore[assignment]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "serverless_ray.messages" in graph["serverless_ray.control.route_board"]  # from x import y
    assert "serverless_ray.runtime.codecs" in graph["serverless_ray.runtime.handler"]  # from . import codecs
    assert "serverless_ray.decorator" in graph["serverless_ray"]  # the lazy names
    assert "serverless_ray.platform" in graph["serverless_ray.decorator"]  # inside a function


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_leaf_modules_import_nothing_of_the_package():
    graph = import_graph()
    for leaf in ("serverless_ray.cluster_names", "serverless_ray.messages", "serverless_ray.errors"):
        assert graph[leaf] == set(), leaf


PURE = [
    "serverless_ray",
    "serverless_ray.spec",
    "serverless_ray.spec.autoscaling",
    "serverless_ray.spec.schedules",
    "serverless_ray.errors",
    "serverless_ray.environments",
    "serverless_ray.store",
    "serverless_ray.cluster_names",
    "serverless_ray.messages",
    "serverless_ray.quota.admission",
    "serverless_ray.quota.ledger",
    "serverless_ray.quota.desk",
    "serverless_ray.quota.tokens",
    "serverless_ray.quota.limits",
    "serverless_ray.autoscaling.policy",
    "serverless_ray.autoscaling.scaler",
    "serverless_ray.autoscaling.target_tracking",
    "serverless_ray.autoscaling.provisioned",
    "serverless_ray.autoscaling.service",
    "serverless_ray.gateway.invocations",
    "serverless_ray.gateway.metering",
    "serverless_ray.billing.book",
    "serverless_ray.billing.meter",
    "serverless_ray.billing.prices",
    "serverless_ray.billing.provisioned",
    "serverless_ray.control.platform_ops",
    "serverless_ray.benchmark.analysis",
    "serverless_ray.benchmark.plan",
    "serverless_ray.benchmark.report",
    "serverless_ray.benchmark.requests",
    "serverless_ray.benchmark.runner",
    "serverless_ray.admin_client",
    "serverless_ray.cli",
    "serverless_ray.cli.options",
    "serverless_ray.isolation.confinement",
    "serverless_ray.isolation.verdicts",
    "serverless_ray.isolation.reaper",
    "serverless_ray.isolation.utilization",
    "serverless_ray.frameworks",
    "serverless_ray.frameworks.images",
    "serverless_ray.frameworks.packages",
    "serverless_ray.frameworks.recordio",
    "serverless_ray.frameworks.xgboost_codecs",
]


def test_pure_parts_load_neither_ray_nor_boto3_nor_yaml_nor_the_python_api():
    # A fresh interpreter: this one has long imported everything.
    script = (
        "import importlib, json, sys\n"
        f"for name in {PURE!r}: importlib.import_module(name)\n"
        "heavy = ('ray', 'boto3', 'botocore', 'yaml', 'serverless_ray.decorator')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout) == []


def test_the_package_still_offers_its_python_api():
    import serverless_ray
    from serverless_ray import decorator

    assert (serverless_ray.endpoint, serverless_ray.run, serverless_ray.EndpointHandle) == (
        decorator.endpoint, decorator.run, decorator.EndpointHandle)
    assert set(serverless_ray.__all__) <= set(dir(serverless_ray))
    with pytest.raises(AttributeError):
        serverless_ray.no_such_name  # noqa: B018
