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


def test_values_out_of_their_declared_range_are_refused_with_what_is_allowed():
    made = catalog(
        setting__work_mem="int(0,64..2147483647) 0",
        setting__ratio="float 0.5",
        setting__motto='str ""',
        setting__count="int 1",
    )
    model = made.operator_change

    def problem(name, value) -> str:
        with pytest.raises(ValueError) as refused:
            model.model_validate({"settings": {name: value}}, strict=True)
        return str(refused.value)

    assert "must be 0 or from 64 to 2147483647" in problem("work_mem", 1)
    assert "must be 0 or from 64 to 2147483647" in problem("work_mem", 2**40)
    for value in (float("nan"), float("inf"), float("-inf")):
        assert "finite" in problem("ratio", value)
    assert "pattern" in problem("motto", "a\x00b")
    assert "less than or equal" in problem("count", 10**400)
    accepted = model.model_validate({"settings": {"work_mem": 64, "ratio": 0.25}}, strict=True)
    assert accepted.settings.work_mem == 64


def test_a_range_default_outside_its_range_is_refused_at_start_up():
    with pytest.raises(ConfigurationError, match="work_mem"):
        catalog(setting__work_mem="int(0,64..100) 10")
