"""Settings are safe by default: debug off, and then no start without a secret key and a database URL."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from cricksy.env import env_float, env_float_list, env_int, env_rate

SHOW = "from django.conf import settings as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])"


def start(**env: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh process whose environment holds only ``env`` (and what Python needs)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
        env={**base, "DJANGO_SETTINGS_MODULE": "cricksy.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_any_setting_the_service_refuses_to_start() -> None:
    started = start()
    assert started.returncode != 0
    assert (
        "ImproperlyConfigured: DJANGO_SECRET_KEY and DATABASE_URL must be set when DJANGO_DEBUG is off"
        in started.stderr
    )


@pytest.mark.parametrize("command", [["job_stats"], ["migrate"], ["run_worker", "--max-jobs", "1"]])
def test_a_command_without_its_settings_says_so_in_one_line(command: list[str]) -> None:
    base = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    ran = subprocess.run(
        [sys.executable, "manage.py", *command],
        env=base,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        "manage.py: DJANGO_SECRET_KEY and DATABASE_URL must be set when DJANGO_DEBUG is off (for "
        "development, set DJANGO_DEBUG=1 as `make run` does)"
    ]


def test_with_debug_off_a_database_url_is_required() -> None:
    started = start(DJANGO_SECRET_KEY=secrets.token_hex(32))
    assert started.returncode != 0
    # Never a SQLite file of its own, which workers elsewhere cannot see.
    assert "ImproperlyConfigured: DATABASE_URL must be set when DJANGO_DEBUG is off" in started.stderr


def test_with_both_it_starts_with_debug_off() -> None:
    started = start(DJANGO_SECRET_KEY=secrets.token_hex(32), DATABASE_URL="postgres://app@db.internal/jobs")
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["False", "django.db.backends.postgresql"]


def test_development_turns_debug_on_explicitly_and_gets_its_defaults() -> None:
    started = start(DJANGO_DEBUG="1")
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == ["True", "django.db.backends.sqlite3"]


def test_the_deployment_checks_pass_with_production_settings() -> None:
    env = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://app@db.internal/jobs",
        "DJANGO_SECURE_HTTPS": "1",
    }
    base = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**base, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("raw", "rate"), [("120/minute", "120/minute"), ("5/s", "5/s"), ("off", None), ("", None)]
)
def test_throttle_rates_are_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, raw: str, rate: str | None
) -> None:
    monkeypatch.setenv("RATE", raw)
    assert env_rate("RATE", "1/day") == rate


@pytest.mark.parametrize("raw", ["fast", "10/fortnight", "/minute", "ten/minute"])
def test_a_bad_throttle_rate_stops_start_up(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("RATE", raw)
    with pytest.raises(ImproperlyConfigured, match="RATE must look like 120/minute"):
        env_rate("RATE", "1/day")


@pytest.mark.parametrize(
    ("read", "raw", "message"),
    [
        (lambda: env_int("N", 3, minimum=1), "three", "N must be an integer, got 'three'"),
        (lambda: env_int("N", 3, minimum=1), "0", "N must be at least 1, got 0"),
        (lambda: env_float("N", 0.5), "-1.5", "N must be at least 0.0, got -1.5"),
        (lambda: env_float_list("N", [60.0]), "60, soon", "N must be comma-separated numbers, got 'soon'"),
        (lambda: env_float_list("N", [60.0], minimum=1), "60, 0.5", "N must be at least 1, got 0.5"),
        (lambda: env_float_list("N", [60.0]), " , ", "N must name at least one value"),
    ],
)
def test_a_number_out_of_range_or_not_a_number_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, read: Callable[[], object], raw: str, message: str
) -> None:
    monkeypatch.setenv("N", raw)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        read()


def test_numbers_read_from_the_environment_or_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N", "7")
    monkeypatch.setenv("LIST", "1, 2.5,10")
    assert (env_int("N", 3), env_float("N", 0.5), env_float("UNSET_N", 0.5)) == (7, 7.0, 0.5)
    assert env_float_list("LIST", [60.0]) == [1.0, 2.5, 10.0]


@pytest.mark.parametrize(
    ("raw", "origins"),
    [(None, "[]"), ("https://a.example, https://b.example", "['https://a.example', 'https://b.example']")],
)
def test_cors_is_off_unless_origins_are_listed(raw: str | None, origins: str) -> None:
    env = {name: value for name, value in os.environ.items() if name != "VIDEO_JOBS_CORS_ALLOWED_ORIGINS"}
    if raw is not None:
        env["VIDEO_JOBS_CORS_ALLOWED_ORIGINS"] = raw
    shown = "from django.conf import settings as s; print(s.CORS_ALLOWED_ORIGINS)"
    loaded = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {shown}"],
        env={**env, "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "cricksy.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == origins


@pytest.mark.parametrize(
    ("allowed", "answered"), [([], None), (["https://coach.example"], "https://coach.example")]
)
def test_a_browser_on_an_allowed_origin_may_call_the_api_with_a_token(
    client: Client, allowed: list[str], answered: str | None
) -> None:
    with override_settings(CORS_ALLOWED_ORIGINS=allowed):
        response = client.options(
            "/api/video-jobs/initiate/",
            HTTP_ORIGIN="https://coach.example",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
        )
    assert response.headers.get("Access-Control-Allow-Origin") == answered
    if answered:
        assert "idempotency-key" in response.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in response.headers
