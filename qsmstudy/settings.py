"""qsmstudy settings, read from the environment (12-factor).

Embedded defaults need no server: SQLite under ``var/`` and kombu's filesystem
transport as the Celery broker, so ``make run`` works on a laptop. Production
sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY,
ALLOWED_HOSTS and DEBUG=0.
"""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("QSMSTUDY_VAR_DIR", default=str(BASE_DIR / "var")))

VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or (
    "insecure-development-key-set-SECRET_KEY-in-production" if DEBUG else ""
)
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "simple_history",
    "qsmstudy",
    "clinical",
    "recon",
    "dashboard",
    "exchange",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "qsmstudy.urls"
WSGI_APPLICATION = "qsmstudy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'qsmstudy.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web server, worker and heartbeat threads share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Niivue's and tus-js-client's self-contained browser builds, installed from package.json by `make install`.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("niivue", BASE_DIR / "node_modules" / "@niivue" / "niivue" / "dist"),
    ("tus", BASE_DIR / "node_modules" / "tus-js-client" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
# Scans are private: MEDIA_ROOT is never served directly, only through views
# that check study membership.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Celery: Redis in production; kombu's filesystem transport when no broker is set.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")  # a host, or kombu warns on every connection
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control", "results"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{BROKER_DIR / 'results'}")
else:
    # Long reconstructions must not be redelivered while still running.
    # An unreachable broker must not hold a request: give up connecting after a few seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
        "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=3),
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Sending a task with the broker down fails fast (clinical.dispatch logs it; the sweep sends it later).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": env.int("CELERY_PUBLISH_MAX_RETRIES", default=1),
    "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
}

# Password guessing: lock a username+address pair after 5 failures for an hour.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes_lockout.html"

# Production hardening; every one of these can be relaxed from the environment
# (e.g. behind a TLS-terminating proxy on a trusted network).
SECURE = not DEBUG and env.bool("SECURE", default=True)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Scan uploads: streamed to disk under MEDIA_ROOT/.incoming (never /tmp), then checked and stored by the
# ingest worker (clinical.ingests). Raw uploads hold identifying headers: the sweep owns that folder.
FILE_UPLOAD_HANDLERS = ["clinical.upload_handler.IncomingFileUploadHandler"]
SCAN_UPLOAD_MAX_BYTES = env.int("SCAN_UPLOAD_MAX_BYTES", default=4 * 1024**3)
SCAN_UPLOAD_MAX_FILES = env.int("SCAN_UPLOAD_MAX_FILES", default=20000)
SCAN_UPLOAD_MAX_UNCOMPRESSED_BYTES = env.int("SCAN_UPLOAD_MAX_UNCOMPRESSED_BYTES", default=8 * 1024**3)
SCAN_UPLOAD_MAX_COMPRESSION_RATIO = env.int("SCAN_UPLOAD_MAX_COMPRESSION_RATIO", default=200)
DATA_UPLOAD_MAX_NUMBER_FILES = SCAN_UPLOAD_MAX_FILES

# Ingest jobs (clinical.ingests): checking, converting and storing a received upload.
INGEST_SOFT_TIME_LIMIT = env.int("INGEST_SOFT_TIME_LIMIT", default=3600)

# Reconstruction jobs (recon app).
RECON_SOFT_TIME_LIMIT = env.int("RECON_SOFT_TIME_LIMIT", default=2 * 3600)
RECON_HEARTBEAT_SECONDS = env.float("RECON_HEARTBEAT_SECONDS", default=10)
RECON_STALE_AFTER_SECONDS = env.float("RECON_STALE_AFTER_SECONDS", default=60)
RECON_MAX_RETRIES = env.int("RECON_MAX_RETRIES", default=5)
# Three queues: "ingest" (uploads and BIDS transfers, minutes; a coordinator waits on the page), "recon"
# (hours of reconstructions and ROI measurements) and "celery" (the short sweep, held up behind neither).
CELERY_TASK_ROUTES = {"recon.sweep": {"queue": "celery"}, "recon.*": {"queue": "recon"},
                      "clinical.ingest": {"queue": "ingest"}, "exchange.*": {"queue": "ingest"}}
# The sweep (recon.sweep): re-sends runs whose message was lost, removes leftovers of killed uploads and runs.
SWEEP_RESEND_AFTER = env.int("SWEEP_RESEND_AFTER", default=600)
SWEEP_LEFTOVERS_AFTER = env.int("SWEEP_LEFTOVERS_AFTER", default=86400)
SWEEP_INTERVAL = env.int("SWEEP_INTERVAL", default=600)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {"recon-sweep": {"task": "recon.sweep", "schedule": float(SWEEP_INTERVAL)}}
# BIDS export zips (exchange app) are kept this long (seconds) for download, then removed by the sweep.
BIDS_EXPORT_KEPT_FOR = env.int("BIDS_EXPORT_KEPT_FOR", default=86400)

# REST API (api app, docs/api.md): a token per user or the browser session; members only, like the pages.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "qsmstudy API",
    "DESCRIPTION": "Studies, patients, exams, scans, reconstructions, ROIs, the analysis, and the imports and "
    "exports (clinical CSV/REDCap, BIDS, dataset CSV, external ROI values), with the pages' access rules. Authenticate with `Authorization: Token <key>` (your token is on /api/token). See docs/api.md.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Request and response shapes differ (write-only reason, read-only derived values, file uploads).
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies declare their own required fields (the audit reason).
    "COMPONENT_SPLIT_PATCH": False,
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
    "ENUM_NAME_OVERRIDES": {"ReflexEnum": "clinical.models.Reflex", "AshworthEnum": "clinical.models.Ashworth"},
}
