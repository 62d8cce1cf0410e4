"""Reading settings from the environment: each value parsed into its type, and a bad one refused at start-up
with ImproperlyConfigured naming the variable (``settings.py`` is their only caller)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

N = TypeVar("N", int, float)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _number(name: str, raw: str, parse: Callable[[str], N], kind: str, minimum: N) -> N:
    try:
        value = parse(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {kind}, got {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_number(name: str, default: N, parse: Callable[[str], N], kind: str, minimum: N) -> N:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return _number(name, raw, parse, kind, minimum)


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    return _env_number(name, default, int, "an integer", minimum)


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    return _env_number(name, default, float, "a number", minimum)


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate, ``<requests>/<second|minute|hour|day>``; empty or ``off``: no limit."""
    raw = os.environ.get(name, default).strip()
    if raw.lower() in {"", "off"}:
        return None
    count, _, period = raw.partition("/")
    if not (count.isdigit() and period and period[0] in "smhd"):
        raise ImproperlyConfigured(f"{name} must look like 120/minute (or be off), got {raw!r}")
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_float_list(name: str, default: list[float], *, minimum: float = 0.0) -> list[float]:
    items = env_list(name, [str(value) for value in default])
    values = [_number(name, item, float, "comma-separated numbers", minimum) for item in items]
    if not values:
        raise ImproperlyConfigured(f"{name} must name at least one value")
    return values
