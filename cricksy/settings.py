"""Settings for Cricksy video jobs.

This module is the only code that reads ``os.environ``, through the readers of ``cricksy/env.py``. Safe by
default: ``DJANGO_DEBUG`` is off unless turned on, and with it off the service refuses to start without
``DJANGO_SECRET_KEY`` and ``DATABASE_URL``. Development turns debug on explicitly (``make run``, the test
settings in pytest.ini), which brings the development defaults: a fixed secret key and a SQLite file in the
project. Everything else has a default that suits both (see the configuration table in docs/operations.md).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

import dj_database_url
from botocore.config import Config as BotoConfig
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

from cricksy.env import env_bool, env_float, env_float_list, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent


# --- Django core -------------------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)
_DEV_SECRET = "django-insecure-development-only-do-not-use-in-production"
_DEVELOPMENT_HINT = "(for development, set DJANGO_DEBUG=1 as `make run` does)"
# Both named at once when both are missing: one line says everything a first command needs.
_MISSING = [name for name in ("DJANGO_SECRET_KEY", "DATABASE_URL") if not DEBUG and not env_str(name, "")]
if _MISSING:
    raise ImproperlyConfigured(
        f"{' and '.join(_MISSING)} must be set when DJANGO_DEBUG is off {_DEVELOPMENT_HINT}"
    )
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# Off by default: the service normally sits behind a TLS-terminating proxy, and plain HTTP on localhost
# must keep working with DJANGO_DEBUG=0.
SECURE_HTTPS = env_bool("DJANGO_SECURE_HTTPS", False)
if SECURE_HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's and Redoc's files, served from here rather than a CDN.
    "drf_spectacular_sidecar",
    "corsheaders",
    # Failed logins counted in the database (every process sees them) and locked out: django-axes.
    "axes",
    "video_jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files under gunicorn without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CommonMiddleware, so that its redirects carry the CORS headers too. Inert while
    # VIDEO_JOBS_CORS_ALLOWED_ORIGINS is empty.
    "corsheaders.middleware.CorsMiddleware",
    # Before CommonMiddleware's APPEND_SLASH: an API route answers with or without its trailing slash.
    "video_jobs.api.fallbacks.OptionalTrailingSlash",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: answers a locked-out login (the admin's and the coaches' pages) with a 429.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a login that is locked out before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "cricksy.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "cricksy.wsgi.application"

# A deployment must never fall back to a SQLite file of its own, which its workers on other machines (or in
# other containers) cannot see: they would wait forever for jobs that the API keeps to itself.
# (Required when DJANGO_DEBUG is off: checked with the secret key above.)
_DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the embedded single-machine default. WAL and a busy timeout let the API and a worker
    # write to the same file without "database is locked" errors; IMMEDIATE transactions take the write
    # lock up front so a read-then-write transaction cannot deadlock on lock upgrade.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares a statement when asked to (the worker's per-job statements: db.run_hot) or
    # once it has run this many times: far above any real count, so nothing else is prepared. Django's
    # default, None, would make psycopg ignore prepare=True as well.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**62)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The coaches' pages (/app/) log in with Django's own views; the admin keeps its own login and logout pages
# (a LOGOUT_REDIRECT_URL here would send staff leaving the admin to the coaches' login: app/urls.py says it).
LOGIN_URL = "coach:login"
LOGIN_REDIRECT_URL = "coach:home"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # The Uppy routes' path token is a credential: django.request logs every 4xx and 5xx with its path.
    "filters": {"redact_uppy_tokens": {"()": "video_jobs.uppy.redaction.RedactUppyTokens"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_uppy_tokens"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# Login rate limit (the coaches' /app/login/ and the admin's): after VIDEO_JOBS_LOGIN_FAILURE_LIMIT failed
# logins for one username from one client address, that pair is locked out (429) for
# VIDEO_JOBS_LOGIN_LOCKOUT_MINUTES; a success resets the count. The address is REMOTE_ADDR: behind a proxy,
# the proxy's, so the username is locked for everyone there. Staff unlock early in the admin (Axes).
AXES_FAILURE_LIMIT = env_int("VIDEO_JOBS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("VIDEO_JOBS_LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures only: no row for every successful login, and no banner in every command's output.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- REST API ----------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Token first, so that an unauthenticated call answers 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "video_jobs.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "video_jobs.api.pagination.JobPagination",
    "DEFAULT_SCHEMA_CLASS": "video_jobs.api.openapi.ContractSchema",
    # DRF's three, the JSON one refusing nesting that would crash its decoder (a 400, not a 500).
    "DEFAULT_PARSER_CLASSES": [
        "video_jobs.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Every error body carries a stable error_code, DRF's own errors included.
    "EXCEPTION_HANDLER": "video_jobs.api.errors.exception_handler",
    # Per-user request rates (429 with Retry-After beyond them): every API call, and initiate on its own.
    # Counted in Django's cache, which is per process here (local memory): each API process counts alone.
    "DEFAULT_THROTTLE_CLASSES": ["video_jobs.api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("VIDEO_JOBS_THROTTLE_RATE", "300/minute"),
        "initiate": env_rate("VIDEO_JOBS_THROTTLE_INITIATE_RATE", "60/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cricksy video jobs API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The description (the getting-started sequence) and the tags' order come from video_jobs.api.openapi.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "video_jobs.api.openapi.add_links",
        "video_jobs.api.openapi.introduce",
    ],
    # One name for the allowed video types, which initiate's content_type and Uppy's type both take.
    "ENUM_NAME_OVERRIDES": {"ContentTypeEnum": "video_jobs.api.serializers.allowed_content_types"},
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- CORS (django-cors-headers): browser clients on other origins -----------------------------------------
# Off unless origins are listed (scheme://host[:port], comma-separated). Only the API answers them, and
# never with credentials: browsers on other origins authenticate with a token, not the session cookie.
CORS_ALLOWED_ORIGINS = env_list("VIDEO_JOBS_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (*default_cors_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "Server-Timing"]

# --- S3 (django-storages settings; credentials come from boto3's usual chain) ------------------------------

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "cricksy-videos")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "http://127.0.0.1:9000") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "us-east-1")
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_S3_ADDRESSING_STYLE: Literal["auto", "virtual", "path"]
AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE", "path")  # type: ignore[assignment]  # checked:
if AWS_S3_ADDRESSING_STYLE not in ("auto", "virtual", "path"):
    raise ImproperlyConfigured(
        f"AWS_S3_ADDRESSING_STYLE must be auto, virtual or path, got {AWS_S3_ADDRESSING_STYLE!r}"
    )
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
# S3-compatible stores (moto, MinIO, Ceph) reject or ignore the newer default checksums, so only send them
# when an operation requires one. Short timeouts keep a hanging S3 from holding an API request.
AWS_S3_CLIENT_CONFIG = BotoConfig(
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    connect_timeout=env_float("AWS_S3_CONNECT_TIMEOUT", 3.0, minimum=0.1),
    read_timeout=env_float("AWS_S3_READ_TIMEOUT", 10.0, minimum=0.1),
    retries={
        "max_attempts": env_int("AWS_S3_MAX_ATTEMPTS", 2, minimum=1),
        "mode": "standard",
    },
    signature_version="s3v4",
    s3={"addressing_style": AWS_S3_ADDRESSING_STYLE},
)

# --- Video jobs --------------------------------------------------------------------------------------------

VIDEO_JOBS_UPLOAD_URL_EXPIRES = env_int("VIDEO_JOBS_UPLOAD_URL_EXPIRES", 3600, minimum=1)
VIDEO_JOBS_UPLOAD_DEADLINE = env_int("VIDEO_JOBS_UPLOAD_DEADLINE", 86400, minimum=1)
VIDEO_JOBS_MAX_UPLOAD_BYTES = env_int("VIDEO_JOBS_MAX_UPLOAD_BYTES", 50 * 1024**3, minimum=1)
# Above the threshold a video goes up as an S3 multipart upload (parallel, resumable parts); below, in one
# presigned PUT. Parts are VIDEO_JOBS_PART_SIZE (S3's minimum is 5 MiB), raised for files over 10,000 parts.
VIDEO_JOBS_MULTIPART_THRESHOLD = env_int("VIDEO_JOBS_MULTIPART_THRESHOLD", 100 * 1024**2, minimum=1)
VIDEO_JOBS_PART_SIZE = env_int("VIDEO_JOBS_PART_SIZE", 16 * 1024**2, minimum=5 * 1024**2)
# How long the Uppy endpoint a page hands its uploader stays valid (its token, video_jobs/uppy/tokens.py).
VIDEO_JOBS_UPPY_TOKEN_MAX_AGE = env_int("VIDEO_JOBS_UPPY_TOKEN_MAX_AGE", 24 * 3600, minimum=60)
VIDEO_JOBS_ALLOWED_CONTENT_TYPES = env_list(
    "VIDEO_JOBS_ALLOWED_CONTENT_TYPES",
    [
        "video/mp4",
        "video/quicktime",
        "video/x-matroska",
        "video/webm",
        "video/x-msvideo",
    ],
)
VIDEO_JOBS_LEASE_SECONDS = env_int("VIDEO_JOBS_LEASE_SECONDS", 60, minimum=2)
VIDEO_JOBS_MAX_ATTEMPTS = env_int("VIDEO_JOBS_MAX_ATTEMPTS", 3, minimum=1)
VIDEO_JOBS_POLL_INTERVAL = env_float("VIDEO_JOBS_POLL_INTERVAL", 1.0, minimum=0.01)
# How often each worker runs the recovery sweeps (expired leases, uploads past their deadline), seconds.
VIDEO_JOBS_SWEEP_INTERVAL = env_float("VIDEO_JOBS_SWEEP_INTERVAL", 15.0, minimum=0.05)
# After the first SIGTERM/SIGINT a running job has this long to finish before it is handed back, seconds.
# Keep it below the orchestrator's own kill timeout (Kubernetes: 30 s by default).
VIDEO_JOBS_SHUTDOWN_GRACE = env_float("VIDEO_JOBS_SHUTDOWN_GRACE", 20.0, minimum=0.0)
# Stage/progress writes of a running job are coalesced to at most one per interval, seconds: a fast job
# then costs its claim and its finish, nothing more.
VIDEO_JOBS_PROGRESS_INTERVAL = env_float("VIDEO_JOBS_PROGRESS_INTERVAL", 1.0, minimum=0.0)
VIDEO_JOBS_STUCK_UPLOAD_MINUTES = env_int("VIDEO_JOBS_STUCK_UPLOAD_MINUTES", 5, minimum=1)
VIDEO_JOBS_ANALYZER = env_str("VIDEO_JOBS_ANALYZER", "video_jobs.analysis.analyze_video")
# The worker's per-job statements run as server-side prepared statements on PostgreSQL. Turn off behind a
# transaction-pooling PgBouncer older than 1.21, which cannot keep them.
VIDEO_JOBS_PREPARED_STATEMENTS = env_bool("VIDEO_JOBS_PREPARED_STATEMENTS", True)
# Analysis runs in a child process of the worker, one per job, with these limits (docs/analysis.md).
# Its address space (RLIMIT_AS), in MiB: Python, PyAV and numpy take about 280 of them before the
# first frame is decoded, so less than 384 is refused; pose peaks at about 850 at 4K (a system check wants
# 1024 with pose on), and the default leaves room for more threads on larger machines.
VIDEO_JOBS_ANALYSIS_MEMORY_MB = env_int("VIDEO_JOBS_ANALYSIS_MEMORY_MB", 2048, minimum=384)
# Wall-clock seconds an analysis may take before its child is killed (analysis_timeout).
VIDEO_JOBS_ANALYSIS_TIMEOUT = env_float("VIDEO_JOBS_ANALYSIS_TIMEOUT", 3600.0, minimum=0.1)
# Names of environment variables the analysis process gets besides its short list (PATH, PYTHONPATH, the
# locale, TZ, TMPDIR): it starts without the worker's environment, which holds the secrets.
VIDEO_JOBS_ANALYSIS_PASS_ENV = env_list("VIDEO_JOBS_ANALYSIS_PASS_ENV", [])
# Largest frame (width x height) and longest video accepted (video_limits_exceeded), checked on the
# container's headers before decoding and again on the decoded frames.
VIDEO_JOBS_MAX_PIXELS = env_int("VIDEO_JOBS_MAX_PIXELS", 4096 * 2160, minimum=1)
VIDEO_JOBS_MAX_DURATION_SECONDS = env_float("VIDEO_JOBS_MAX_DURATION_SECONDS", 6 * 3600.0, minimum=1.0)
# Threads FFmpeg may decode one video with.
VIDEO_JOBS_DECODER_THREADS = env_int("VIDEO_JOBS_DECODER_THREADS", 2, minimum=1)
# Frames a second the player's pose is sampled at (fewer for videos longer than a few minutes, so that the
# track stays bounded); 0 turns pose analysis off (docs/analysis.md).
VIDEO_JOBS_POSE_FPS = env_float("VIDEO_JOBS_POSE_FPS", 10.0, minimum=0.0)
# Transient failures retry after base * 2**(attempt-1) seconds (with jitter), at most the maximum.
VIDEO_JOBS_RETRY_BACKOFF_BASE = env_float("VIDEO_JOBS_RETRY_BACKOFF_BASE", 5.0, minimum=0.0)
VIDEO_JOBS_RETRY_BACKOFF_MAX = env_float("VIDEO_JOBS_RETRY_BACKOFF_MAX", 300.0, minimum=0.0)
# Seconds a client is told to wait (Retry-After) when S3 could not answer a verification.
VIDEO_JOBS_RETRY_AFTER = env_int("VIDEO_JOBS_RETRY_AFTER", 5, minimum=1)
# Per-user quotas, checked at initiate (staff raise one user's in the admin: Job quotas).
VIDEO_JOBS_MAX_PENDING_UPLOADS = env_int("VIDEO_JOBS_MAX_PENDING_UPLOADS", 20)
VIDEO_JOBS_MAX_ACTIVE_JOBS = env_int("VIDEO_JOBS_MAX_ACTIVE_JOBS", 100)
# Seconds a client over its quota is told to wait (Retry-After): a place frees up when a job moves on.
VIDEO_JOBS_QUOTA_RETRY_AFTER = env_int("VIDEO_JOBS_QUOTA_RETRY_AFTER", 60, minimum=1)
# Days a source video is kept after its job ended; then the workers' sweep deletes it (result and artifacts
# stay). 0 keeps source videos forever.
VIDEO_JOBS_RETAIN_SOURCE_DAYS = env_int("VIDEO_JOBS_RETAIN_SOURCE_DAYS", 30)
# Days a settled webhook delivery (delivered or given up) is kept; then the workers' sweep deletes it (its
# payload repeats the job's filename and result summary). 0 keeps deliveries forever.
VIDEO_JOBS_WEBHOOK_RETAIN_DAYS = env_int("VIDEO_JOBS_WEBHOOK_RETAIN_DAYS", 30)

# --- Webhooks ----------------------------------------------------------------------------------------------

# Endpoints one user may register.
VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS = env_int("VIDEO_JOBS_MAX_WEBHOOK_ENDPOINTS", 10, minimum=1)
# Let endpoints resolve to loopback and private addresses (tests, local development). Never in production:
# it opens the service's own network to whoever may register a URL.
VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE = env_bool("VIDEO_JOBS_WEBHOOK_ALLOW_PRIVATE", False)
# Seconds one delivery attempt may take, connection to answer.
VIDEO_JOBS_WEBHOOK_TIMEOUT = env_float("VIDEO_JOBS_WEBHOOK_TIMEOUT", 10.0, minimum=0.1)
# Seconds a webhook host's DNS lookup may take, at registration and at each delivery (within the timeout).
VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT = env_float("VIDEO_JOBS_WEBHOOK_DNS_TIMEOUT", 5.0, minimum=0.1)
# Seconds to wait after each failed attempt before the next (Svix's schedule after its immediate first
# attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each with +-20% jitter; then the delivery fails.
VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE = env_float_list(
    "VIDEO_JOBS_WEBHOOK_RETRY_SCHEDULE", [5, 300, 1800, 7200, 18000, 36000, 36000], minimum=0.0
)
# An endpoint that has failed without a single success for this many days is disabled.
VIDEO_JOBS_WEBHOOK_DISABLE_AFTER_DAYS = env_float("VIDEO_JOBS_WEBHOOK_DISABLE_AFTER_DAYS", 5.0, minimum=0.0)
# Test pings (POST .../test/) one endpoint may be sent a minute; beyond them 429 with Retry-After.
VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE = env_int("VIDEO_JOBS_WEBHOOK_TEST_PINGS_PER_MINUTE", 5, minimum=1)
# Deliveries one run_webhooks process has in flight at once (threads), at most one per endpoint.
VIDEO_JOBS_WEBHOOK_CONCURRENCY = env_int("VIDEO_JOBS_WEBHOOK_CONCURRENCY", 10, minimum=1)
# Of those, the most one owner's deliveries may hold, so that other owners' deliveries always find a sender.
VIDEO_JOBS_WEBHOOK_OWNER_CONCURRENCY = env_int("VIDEO_JOBS_WEBHOOK_OWNER_CONCURRENCY", 3, minimum=1)

# --- Operations: admin, metrics, health --------------------------------------------------------------------

# Bearer token that lets Prometheus read /metrics without a staff session; empty means staff sessions only.
VIDEO_JOBS_METRICS_TOKEN = env_str("VIDEO_JOBS_METRICS_TOKEN", "")
# Seconds /healthz/ready reuses its S3 answer (per process): however often load balancers probe, a process
# asks S3 at most once per period, and a brief S3 brownout only reaches the instances that ask during it
# instead of taking every instance out of its load balancer at once.
VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS = env_float("VIDEO_JOBS_HEALTH_S3_CACHE_SECONDS", 5.0)
