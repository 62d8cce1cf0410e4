"""Per-user request rates of the API (DRF throttling), from REST_FRAMEWORK's DEFAULT_THROTTLE_RATES.

DRF's throttles keep the rates as they were when the class was imported; these look them up at each
request, so that REST_FRAMEWORK changed at run time (tests' override_settings) applies.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class UserThrottle(UserRateThrottle):
    """Every API call of a user (VIDEO_JOBS_THROTTLE_RATE); keyed by user id, or by address when anonymous."""

    scope = "user"

    def get_rate(self) -> str | None:
        # api_settings follows REST_FRAMEWORK as it is now; DRF's THROTTLE_RATES kept it as it was at import.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None else str(rate)


class InitiateThrottle(UserThrottle):
    """Job creation on its own (VIDEO_JOBS_THROTTLE_INITIATE_RATE), on top of the user's overall rate."""

    scope = "initiate"
