"""The password hasher the tests' users get: Django's PBKDF2 at one iteration.

The default's million iterations cost 0.3 s of CPU a password, and most tests make a user with one (minutes
of a suite). The hash keeps the real format (``pbkdf2_sha256$<iterations>$<salt>$<hash>``) and checking a
password is the real check, so logins, wrong passwords and lockouts behave as in production; a process the
tests start (``run_dev``, gunicorn) verifies these hashes with the stock hasher, which reads the
iterations from the hash.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
