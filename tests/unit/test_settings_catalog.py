"""Declaring per-tenant settings and flags in the ini: clear errors at start-up."""

import re

import pytest
from pyramid.exceptions import ConfigurationError

from tenantapp.tenancy.directory import TenantEntry
from tenantapp.tenant_settings.catalog import Catalog, bucket


def catalog(**declared: str) -> Catalog:
    """``setting__name="..."`` declares ``tenantapp.setting.name``."""
    keys = {f"tenantapp.{k.replace('__', '.')}": v for k, v in declared.items()}
    return Catalog.from_settings(keys)


def test_declarations_become_typed_defaults():
    made = catalog(
        setting__theme="choice(light,dark) dark owner",
        setting__limit="int 5",
        setting__ratio="float 0.5",
        setting__on="bool true",
        setting__motto='str "hello world"',
        flag__beta="percent 20",
    )
    entry = TenantEntry(1, "a", "tenant_1", "A", "active")
    assert made.values(entry) == {
        "theme": "dark",
        "limit": 5,
        "ratio": 0.5,
        "on": True,
        "motto": "hello world",
    }
    assert made.settings["theme"].owner_editable and not made.settings["limit"].owner_editable


@pytest.mark.parametrize(
    ("key", "text", "problem"),
    [
        ("setting.limit", "int many", "default 'many'"),
        ("setting.limit", "integer 5", "unknown type"),
        ("setting.limit", "int", "expected 'TYPE DEFAULT [owner]'"),
        ("setting.limit", "int 5 admin", "expected 'TYPE DEFAULT [owner]'"),
        ("setting.Bad", "int 5", "lowercase"),
        ("setting.theme", "choice(a,b) c", "default 'c'"),
        ("setting.share", "percent 5", "unknown type"),
        ("flag.beta", "int 5", "a flag is"),
        ("flag.beta", "percent 120", "default '120'"),
        ("flag.beta", "bool true owner", "a flag is"),
    ],
)
def test_a_wrong_declaration_stops_start_up_naming_it(key, text, problem):
    with pytest.raises(ConfigurationError, match=re.escape(problem)) as raised:
        Catalog.from_settings({f"tenantapp.{key}": text})
    assert f"tenantapp.{key}" in str(raised.value)


def test_an_undeclared_flag_is_a_programming_error_named_at_once():
    with pytest.raises(KeyError, match=r"tenantapp\.flag\.nope"):
        catalog().feature(None, "nope")


def test_buckets_spread_tenants_over_the_percentages():
    buckets = [bucket("beta", tenant_id) for tenant_id in range(10_000)]
    assert all(0 <= b < 100 for b in buckets)
    share = sum(b < 20 for b in buckets) / len(buckets)
    assert 0.18 < share < 0.22
