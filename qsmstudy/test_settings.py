"""Settings for the test suite: the environment's database and broker, fast hashing, plain HTTP."""
import os
from pathlib import Path

# Keep test data (SQLite file, embedded broker, media) apart from a local `make run`.
os.environ.setdefault("QSMSTUDY_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-django-checks-0123456789")
os.environ.setdefault("SECURE", "0")

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A file, not memory, so that a worker process can share the SQLite test database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
MEDIA_ROOT = VAR_DIR / "media"
