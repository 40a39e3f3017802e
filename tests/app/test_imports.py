"""What an app author imports first works on its own (no import cycle that only the app's own
import order hides)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import webtest

FIRST_IMPORTS = [
    "tenantapp.users.models",
    "tenantapp.audit.models",
    "tenantapp.identity.models",
    "tenantapp.jobs",
    "tenantapp.testing",
    "tenantapp.lifecycle.provisioning",
    "tenantapp.users.actions",
    "tenantapp.users.views",
    "tenantapp.encryption.columns",
    "tenantapp.console.tenant_views",
]


@pytest.mark.parametrize("module", FIRST_IMPORTS)
def test_a_module_imports_first_in_a_fresh_interpreter(module):
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


PACKAGE = Path(__file__).resolve().parents[2] / "tenantapp"
# what the kernel (tenantapp.tenancy: what every request runs) may import besides itself: the
# modules below every feature
BELOW_THE_KERNEL = {"caching", "config", "errors", "interfaces", "database"}


def imports_by_module() -> dict[str, set[str]]:
    """Every tenantapp module and the tenantapp modules it imports, at its top or inside a
    function (an import hidden in a function is a dependency all the same)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "alembic" in path.relative_to(PACKAGE).parts:
            continue
        parts = ("tenantapp", *path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    found = {}
    for name, (path, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.add(sub if sub in modules else module)
        found[name] = {t for t in targets if t in modules and t != name}
    return found


def test_no_import_circle():
    graph = imports_by_module()
    done, path = set(), []

    def visit(module):
        if module in path:
            circle = [*path[path.index(module) :], module]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_the_kernel_imports_no_feature():
    upward = {
        f"{module} -> {target}"
        for module, targets in imports_by_module().items()
        if module.startswith("tenantapp.tenancy")
        for target in targets
        if not target.startswith("tenantapp.tenancy")
        and target.split(".")[1] not in BELOW_THE_KERNEL
    }
    assert not upward, sorted(upward)


def test_the_lifecycle_is_not_on_a_tenant_requests_path():
    """What reaches a tenant's rows (the kernel, the session, the host lookup) never imports
    the operator's side, not even through another module. (The traversal root does: the
    operator API's resources hang from it.)"""
    graph = imports_by_module()
    for module in ("tenantapp.tenancy", "tenantapp.database", "tenantapp.domains.resolution"):
        reached, todo = set(), [module]
        while todo:
            for target in graph[todo.pop()] - reached:
                reached.add(target)
                todo.append(target)
        assert not {m for m in reached if m.startswith("tenantapp.lifecycle")}, module


def test_no_state_under_registry_keys_and_no_bare_settings_reads():
    """Services are provided under their interface (``interfaces.provide``), and settings read
    through ``config.setting``, which names a bad key; the services' own cache is the one key."""
    offending = []
    for path in PACKAGE.rglob("*.py"):
        if "alembic" in path.relative_to(PACKAGE).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            keyed = re.search(r"registry\[(?!SINGLETONS_KEY\])", code)
            bare = re.search(r"\b(int|float)\(\s*settings", code)
            if keyed or bare:
                offending.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offending, offending


def test_configure_only_includes():
    """Each feature scans and registers itself in its own ``includeme``; the services are made
    at first use and wired at the commit, so ``configure`` needs no commit at all."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    configure = functions["configure"]
    calls = [
        node.func.attr
        for node in ast.walk(configure)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if isinstance(node.func.value, ast.Name) and node.func.value.id == "config"
    ]
    assert set(calls) == {"include"}, calls


def test_the_features_may_be_included_in_any_order(settings, tenant):
    """Reversed, the app is assembled all the same and serves a tenant's request."""
    from pyramid.config import Configurator

    import tenantapp
    from tenantapp.interfaces import ICacheListener, IPlaceListeners, IUsageLedger, service

    config = Configurator(settings=dict(settings), package=tenantapp)
    for feature in reversed(tenantapp.FEATURES):
        config.include(feature)
    app = config.make_wsgi_app()
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        users = client.get(f"/{tenant.slug}/users", headers=tenant.auth).json
        assert [user["email"] for user in users["items"]] == [tenant.owner_email]
    finally:
        for iface in (ICacheListener, IPlaceListeners, IUsageLedger):
            service(app.registry, iface).stop()
