"""Django settings for pushlab.

Everything a user may want to change is read from the environment through
``env()``; the defaults need nothing installed or started by hand (SQLite in
``var/``, an embedded Redis). See docs/running.md for the full list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from lab.embedded_redis import ensure_redis_url
from lab.secret_key import install_secret_key
from strategies import STRATEGIES  # the one table; settings, URLs and ASGI wiring read it

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PUSHLAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env(name: str, default: str) -> str:
    """One reader for every setting that comes from the environment."""
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


CONN_MAX_AGE_S = 600
"""Database connections are kept and reused: opening one per request (and SQLite's PRAGMAs)
cost more than the queries (docs/decisions.md, "Hot paths")."""


SQLITE_OPTIONS = {
    # Writers take the lock at BEGIN, so concurrent posts queue instead of failing.
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def database_from_url(url: str) -> dict[str, Any]:
    """A DATABASES entry from any URL ``dj-database-url`` reads: ``sqlite:///path``,
    ``postgres://user:pass@host:port/name?sslmode=require``, ... (query options go to
    OPTIONS). A SQLite file gets the same options as the default one, under the URL's own."""
    import dj_database_url

    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE_S, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


# Sessions are signed cookies: a known key lets anyone mint one. Without PUSHLAB_SECRET_KEY,
# a random key made once per install in VAR_DIR/secret_key (mode 0600) - lab/secret_key.py.
SECRET_KEY = env("PUSHLAB_SECRET_KEY", "") or install_secret_key(VAR_DIR)
DEBUG = env_bool("PUSHLAB_DEBUG", False)  # off by default: DEBUG keeps every SQL query in memory
ALLOWED_HOSTS = env("PUSHLAB_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",  # first, so `manage.py runserver` serves WebSockets too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "lab",
    "strategies",  # the registry: registers each strategy's publisher with lab.push
    *(strategy.app for strategy in STRATEGIES.values()),  # each package: its static client
]

# Django's own middleware, subclassed to run in the event loop (lab/middleware.py).
MIDDLEWARE = [
    "lab.middleware.SecurityMiddleware",
    "lab.middleware.SessionMiddleware",
    "lab.middleware.CommonMiddleware",
    "lab.middleware.CsrfViewMiddleware",
    "lab.middleware.AuthenticationMiddleware",
    "lab.access.login_required_middleware",  # PUSHLAB_REQUIRE_LOGIN
    "lab.middleware.MessageMiddleware",
    "lab.middleware.XFrameOptionsMiddleware",
]
X_FRAME_OPTIONS = "SAMEORIGIN"  # the compare page frames the room page

ROOT_URLCONF = "lab.urls"
ASGI_APPLICATION = "lab.asgi.application"

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

if env("DATABASE_URL", ""):
    DATABASES = {"default": database_from_url(env("DATABASE_URL", ""))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "pushlab.sqlite3",
            # A file, not :memory:, so live-server tests share it across threads and processes.
            "TEST": {"NAME": VAR_DIR / "test-pushlab.sqlite3"},
            "CONN_MAX_AGE": CONN_MAX_AGE_S,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = ensure_redis_url()
# What carries each stored message to the requests held in every server process (lab/push.py):
# redis://, rediss:// or unix:// (a Redis; by default the site's own), or memory:// (this
# process only: a one-process demo, fast tests).
PUSHLAB_PUSH_URL = env("PUSHLAB_PUSH_URL", "") or REDIS_URL
# Redis connections per server process, each pool bounded on purpose (docs/guarantees.md):
# the channel layer's pool (per event loop), the wake-up publisher's, and the hub's one
# subscription. A command that finds its pool busy waits up to POOL_TIMEOUT_S for a free one.
PUSHLAB_CHANNEL_LAYER_CONNECTIONS = env_int("PUSHLAB_CHANNEL_LAYER_CONNECTIONS", 50)
PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS = env_int("PUSHLAB_WAKEUP_PUBLISHER_CONNECTIONS", 4)
PUSHLAB_REDIS_POOL_TIMEOUT_S = env_float("PUSHLAB_REDIS_POOL_TIMEOUT_S", 10.0)
# How long a post waits for each Redis step (rate limit, wake-up PUBLISH, group_send) when
# Redis is down or stalled, before it goes on without it: the message is stored either way.
PUSHLAB_REDIS_COMMAND_TIMEOUT_S = env_float("PUSHLAB_REDIS_COMMAND_TIMEOUT_S", 2.0)
# After a Redis step of a post fails, posts skip Redis this long (lab/broker.py).
PUSHLAB_REDIS_RETRY_AFTER_S = env_float("PUSHLAB_REDIS_RETRY_AFTER_S", 3.0)
# PUSHLAB_CHANNEL_LAYER: "pubsub" (RedisPubSubChannelLayer: one PUBLISH per group_send, fanned
# out in each process; the default, the cheaper one), "redis" (RedisChannelLayer, the lecture's)
# or "memory" (channels' InMemoryChannelLayer: one process only, for in-process tests and a
# one-process demo; sockets of other processes never hear of a message).
# `pushlab serve/bench --layer` set the Redis ones; docs/decisions.md has what each costs.
PUSHLAB_CHANNEL_LAYER = env("PUSHLAB_CHANNEL_LAYER", "pubsub")
if PUSHLAB_CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL}]},
        }
    }
elif PUSHLAB_CHANNEL_LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis' RedisChannelLayer with a bounded pool that waits instead of
            # failing when a burst of joins or leaves needs more connections (lab/channel_layer.py).
            "BACKEND": "lab.channel_layer.BoundedRedisChannelLayer",
            "CONFIG": {
                # socket_timeout=None: redis-py 8 otherwise drops every WebSocket idle for ~5 s
                # (redis-py#4091, channels_redis#422; see docs/architecture.md).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": env_int("PUSHLAB_CHANNEL_CAPACITY", 100),
                "expiry": 60,
                "max_connections": PUSHLAB_CHANNEL_LAYER_CONNECTIONS,
                "pool_timeout": PUSHLAB_REDIS_POOL_TIMEOUT_S,
            },
        }
    }
elif PUSHLAB_CHANNEL_LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    raise ValueError(
        f"PUSHLAB_CHANNEL_LAYER is redis, pubsub or memory, not {PUSHLAB_CHANNEL_LAYER!r}"
    )

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
LOGIN_URL = "/admin/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("PUSHLAB_LOG_LEVEL", "WARNING")},
}

# --- pushlab's own settings (docs/running.md lists them) ---
PUSHLAB_LONG_POLL_TIMEOUT_S = env_int("PUSHLAB_LONG_POLL_TIMEOUT_S", 25)
PUSHLAB_LONG_POLL_MAX_TIMEOUT_S = 60
# How often each process's wake-up hub asks the database for the newest id of every room that
# has a held long poll or an open event stream (one query for all of them): a message stored
# without a wake-up reaching this process (another process on another Redis, manage.py shell,
# a lost PUBLISH) reaches them within this long (lab/wakeups.py, WakeUpHub.check_newest).
PUSHLAB_MISSED_WAKEUP_CHECK_S = env_float(
    "PUSHLAB_MISSED_WAKEUP_CHECK_S", float(PUSHLAB_LONG_POLL_TIMEOUT_S)
)
if not PUSHLAB_MISSED_WAKEUP_CHECK_S > 0:  # also refuses nan
    raise ImproperlyConfigured("PUSHLAB_MISSED_WAKEUP_CHECK_S must be more than 0 seconds")
PUSHLAB_MAX_MESSAGE_LENGTH = 2000
# Publish only to these strategies (comma-separated keys; empty = all). The benchmark sets it
# so each measured strategy pays only for its own push mechanism; the live site uses all.
PUSHLAB_PUBLISH_ONLY = tuple(
    key.strip() for key in env("PUSHLAB_PUBLISH_ONLY", "").split(",") if key.strip()
)
PUSHLAB_HISTORY_LENGTH = env_int("PUSHLAB_HISTORY_LENGTH", 50)
PUSHLAB_PAGE_LIMIT = 500
CSRF_FAILURE_VIEW = "lab.views.csrf_failure"

# Limits (docs/guarantees.md explains each and what happens past it).
# Posting: a token bucket per client (session), kept in Redis (lab/ratelimit.py); burst 0
# turns the whole limit off.


def env_gc_thresholds(name: str, default: str) -> tuple[int, int, int]:
    """Three whole numbers for ``gc.set_threshold``, ``"10000,10,100"``."""
    raw = env(name, default)
    try:
        first, second, third = (int(part) for part in raw.split(","))
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be three whole numbers, e.g. {default!r}, not {raw!r}"
        ) from None
    return first, second, third


PUSHLAB_GC_THRESHOLDS = env_gc_thresholds("PUSHLAB_GC_THRESHOLDS", "10000,10,100")
"""The server's ``gc.set_threshold`` (lab/asgi.py): a young collection after 10 000 new objects
instead of Python's 700, a full one after 100 middle ones instead of 10 (docs/decisions.md,
"Garbage collection")."""
PUSHLAB_RATE_LIMIT_BURST = env_int("PUSHLAB_RATE_LIMIT_BURST", 10)
PUSHLAB_RATE_LIMIT_PER_S = env_float("PUSHLAB_RATE_LIMIT_PER_S", 2.0)
# A second, higher bound per client address: a client that drops its session cookie gets a
# fresh session bucket each time, not a fresh address bucket. Both are kept in Redis.
PUSHLAB_RATE_LIMIT_ADDRESS_BURST = env_int("PUSHLAB_RATE_LIMIT_ADDRESS_BURST", 300)
PUSHLAB_RATE_LIMIT_ADDRESS_PER_S = env_float("PUSHLAB_RATE_LIMIT_ADDRESS_PER_S", 60.0)
# New guest sessions per client address (lab.authors): a page or post that would mint one past
# the bound gets 429 JSON with Retry-After and no session. Burst 0 turns it off.
PUSHLAB_SESSION_MINT_BURST = env_int("PUSHLAB_SESSION_MINT_BURST", 100)
PUSHLAB_SESSION_MINT_PER_S = env_float("PUSHLAB_SESSION_MINT_PER_S", 10.0)
# The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
# addresses or networks, as uvicorn's forwarded_allow_ips reads them; lab/asgi.py). Empty:
# forwarded headers are ignored from everyone, loopback included.
PUSHLAB_TRUSTED_PROXIES = tuple(
    part.strip() for part in env("PUSHLAB_TRUSTED_PROXIES", "").split(",") if part.strip()
)
# Per server process; the full benchmark opens a few hundred. MAX_LONG_POLLS bounds every
# request held open on the wake-up hub (long polls and event streams alike); the WebSocket
# strategy bounds its sockets with its own PUSHLAB_MAX_WEBSOCKETS.
PUSHLAB_MAX_LONG_POLLS = env_int("PUSHLAB_MAX_LONG_POLLS", 2000)
# A WebSocket whose client sends nothing for PING_INTERVAL is pinged, and closed if no pong
# comes within PING_TIMEOUT. A client that stops reading never answers, so the server drops
# it and the frames it buffered for it: this bounds what a slow reader can make it hold.
# On Ctrl-C or SIGTERM, uvicorn lets requests in progress finish for this long, then closes
# what is left. Held requests (long polls, event streams) would otherwise keep a stopping
# server alive for as long as they are held, and the clients reconnect anyway.
PUSHLAB_SHUTDOWN_GRACE_S = env_int("PUSHLAB_SHUTDOWN_GRACE_S", 1)
PUSHLAB_WS_PING_INTERVAL_S = env_int("PUSHLAB_WS_PING_INTERVAL_S", 20)
PUSHLAB_WS_PING_TIMEOUT_S = env_int("PUSHLAB_WS_PING_TIMEOUT_S", 30)
# Anonymous users are refused by every strategy (lab/access.py).
PUSHLAB_REQUIRE_LOGIN = env_bool("PUSHLAB_REQUIRE_LOGIN", False)

# Each strategy's own settings (Strategy.settings; its docs page lists them), read the same way.
for _strategy in STRATEGIES.values():
    for _name, _default in _strategy.settings.items():
        globals()[_name] = type(_default)(env(_name, str(_default)))
