"""The wheel: it carries its migrations and nothing but tenantapp, and it migrates a database."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tenantapp.lifecycle import migrations
from tenantapp.testing import TEST_KEYS

pytestmark = pytest.mark.slow  # processes, servers or a browser of their own

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(  # noqa: S603 - pip of this interpreter, on this project
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("tenantapp-*.whl"))


def test_the_wheel_holds_tenantapp_and_its_migrations_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"tenantapp", "tenantapp-0.1.0.dist-info"}
    for kept in (
        "alembic/env.py",
        "alembic/script.py.mako",
        "alembic/tenant/versions/t001_users.py",
        "alembic/shared/versions/s001_tenant_registry.py",
        "console/templates/base.jinja2",  # the console's pages and what they load
        "console/static/htmx.min.js",
        "console/static/console.css",
    ):
        assert f"tenantapp/{kept}" in names


def test_an_installed_wheel_migrates_and_creates_tenants(
    wheel, tmp_path, empty_database_url, tenancy
):
    site = tmp_path / "site"
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[app:main]\nuse = egg:tenantapp\ntenantapp.embedded_database = false\n"
        f"sqlalchemy.url = {empty_database_url.replace('%', '%%')}\n"
        f"tenantapp.encryption.keys = {TEST_KEYS['tenantapp.encryption.keys']}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}

    def admin(*args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "tenantapp.scripts.admin", str(ini), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import tenantapp.lifecycle.migrations as m; print(m.ALEMBIC_DIR)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == site / "tenantapp" / "alembic"
    assert "0 migrated, 0 failed" in admin("migrate")
    assert "created tenant acme" in admin("create-tenant", "acme")
    head = migrations.head_revision("tenant")  # the wheel carries every migration of the tree
    row = next(x for x in admin("list-tenants").splitlines() if x.startswith("acme "))
    assert re.split(r"\s{2,}", row)[:5] == ["acme", "active", "schema", "default", head]


def test_the_benchmarks_need_no_test_framework():
    """``pip install -e '.[bench]'`` alone runs them: none imports pytest."""
    root = Path(__file__).resolve().parents[2]
    modules = sorted(p.stem for p in (root / "bench").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None\n"  # importing it fails
        f"for name in {modules!r}: __import__('bench.' + name)\n"
    )
    done = subprocess.run(  # noqa: S603 (our own code, our own interpreter)
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert len(modules) > 10
