"""What the shipped ini files promise."""

import re
from pathlib import Path

import pytest
from pyramid.exceptions import ConfigurationError
from pyramid.paster import get_appsettings
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tenantapp.config import setting
from tenantapp.database import URL_ENV, database_url, make_engine
from tenantapp.interfaces import IIdentitySettings, IServers, service

ROOT = Path(__file__).resolve().parents[2]


def test_production_needs_a_database_url_and_provisions_nothing(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    settings = get_appsettings(str(ROOT / "production.ini"))
    assert "tenantapp.demo_tenants" not in settings
    assert "tenantapp.migrate_on_start" not in settings
    with pytest.raises(ConfigurationError, match=URL_ENV):
        database_url(settings)


def test_production_takes_the_url_from_the_environment(monkeypatch):
    monkeypatch.setenv(URL_ENV, "postgresql://app@db.internal/tenants")
    settings = get_appsettings(str(ROOT / "production.ini"))
    assert database_url(settings) == "postgresql+psycopg://app@db.internal/tenants"


def test_development_provisions_the_demo_tenants_under_var():
    settings = get_appsettings(str(ROOT / "development.ini"))
    assert settings["tenantapp.demo_tenants"].split() == ["acme", "globex"]
    assert settings["tenantapp.data_dir"] == str(ROOT / "var")


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://root@localhost/x"])
def test_other_databases_are_refused(url):
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        database_url({"sqlalchemy.url": url})


def test_production_reads_the_operator_token_from_the_environment(monkeypatch, settings):
    from tenantapp import main

    monkeypatch.setenv("TENANTAPP_OPERATOR_TOKEN", "t" * 40)
    app = main({}, **{k: v for k, v in settings.items() if k != "tenantapp.operator_token"})
    try:
        assert service(app.registry, IIdentitySettings).operator_enabled
    finally:
        service(app.registry, IServers).dispose()


def test_a_connection_the_server_closed_is_replaced_at_checkout(settings):
    """Without pool_pre_ping's round trip: the next request still gets a live connection."""
    engine = make_engine({**settings, "sqlalchemy.pool_size": "1", "sqlalchemy.max_overflow": "0"})
    try:
        with engine.connect() as connection:
            first = connection.scalar(text("SELECT pg_backend_pid()"))
        killer = create_engine(engine.url, poolclass=NullPool)
        with killer.connect() as connection:  # waits until the backend has exited
            sql = text("SELECT pg_terminate_backend(:pid, 10000)")
            assert connection.scalar(sql, {"pid": first})
        with engine.connect() as connection:
            second = connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        engine.dispose()


def test_the_suite_leaves_no_temp_dirs_of_passing_tests(pytestconfig):
    """Each test that starts pserve leaves an embedded server's data (tens of MB) under tmp."""
    assert pytestconfig.getini("tmp_path_retention_policy") == "failed"


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        ("lots", int, "must be a whole number"),
        ("1.5", int, "must be a whole number"),
        ("nan", float, "must be a number"),
        ("-1", int, "must be at least 0"),
        ("maybe", bool, "must be true or false"),
    ],
)
def test_a_bad_setting_names_its_key(raw, kind, message):
    expected = re.escape(f"tenantapp.example = '{raw}': {message}")
    with pytest.raises(ConfigurationError, match=expected):
        setting({"tenantapp.example": raw}, "tenantapp.example", kind, kind(0), minimum=0)


def test_a_setting_is_coerced_with_its_default_and_bounds():
    settings = {"a": " 12 ", "b": "", "c": "0.25", "d": "on"}
    assert setting(settings, "a", int, 1, minimum=1, maximum=12) == 12
    assert setting(settings, "b", int, 7) == 7  # empty: the default
    assert setting(settings, "missing", float, 2.5) == 2.5
    assert setting(settings, "c", float, 1.0) == 0.25
    assert setting(settings, "d", bool, False) is True
    with pytest.raises(ConfigurationError, match="must be at most 10"):
        setting(settings, "a", int, 1, maximum=10)


def test_the_app_refuses_to_start_on_a_bad_setting_and_says_which(settings):
    from tenantapp import configure

    with pytest.raises(ConfigurationError, match=r"tenantapp\.token_cache_size = 'lots'"):
        configure({**settings, "tenantapp.token_cache_size": "lots"})
