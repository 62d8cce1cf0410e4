"""Staff recovery in Django's admin: the job admin (``jobs``) with its actions, filters and analysis picture,
and the users' side (``accounts``: API tokens, quotas). Importing this package registers every model admin,
the webhook models' included. It may import services, models, s3 and ops; it never assigns a status itself.
"""

from ..webhooks import admin as webhooks_admin
from . import accounts, jobs

__all__ = ["accounts", "jobs", "webhooks_admin"]
