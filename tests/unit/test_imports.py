"""What an app author imports first works on its own (no import cycle that only the app's own
import order hides)."""

import subprocess
import sys

import pytest

FIRST_IMPORTS = [
    "tenantapp.users.models",
    "tenantapp.audit.models",
    "tenantapp.identity.models",
    "tenantapp.jobs",
    "tenantapp.testing",
    "tenantapp.tenancy.provisioning",
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
