"""The argument types the management commands share."""

from __future__ import annotations

import argparse

import pytest

from video_jobs.management.options import positive_float, positive_int


def test_positive_numbers_are_accepted_and_the_rest_refused() -> None:
    assert positive_int("3") == 3
    assert positive_float("0.5") == 0.5
    for parse, refused in [(positive_int, "0"), (positive_int, "-2"), (positive_float, "0")]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(refused)
    with pytest.raises(ValueError, match="invalid literal"):
        positive_int("many")
