"""What every shell (web, job, CLI) needs at hand: settings, the database and the phone vault.

Jobs run outside Flask, so this lives apart from the app. A process has one runtime: the app
factory installs its own, and a worker builds one from the environment on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsapp.config import Settings, load_settings
from smsapp.db import Database
from smsapp.privacy.vault import PhoneVault

if TYPE_CHECKING:
    import redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: PhoneVault
    _redis: Any = field(default=None, repr=False)
    # Jobs collected when settings.queue_mode == "manual" (tests); see queue.run_pending.
    pending_jobs: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(
        default_factory=list, repr=False
    )

    def redis(self) -> redis.Redis | None:
        """The shared Redis client, or None when the queue runs embedded."""
        if self.settings.queue_mode != "redis" or not self.settings.redis_url:
            return None
        if self._redis is None:
            import redis as redis_lib

            self._redis = redis_lib.Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5
            )
        return self._redis


def build_runtime(settings: Settings, database: Database | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        db=database or Database(settings.database_url),
        vault=PhoneVault(settings.data_key, settings.old_data_keys),
    )


_lock = threading.Lock()
_process_runtime: Runtime | None = None


def install_runtime(runtime: Runtime) -> None:
    global _process_runtime
    with _lock:
        _process_runtime = runtime


def get_runtime() -> Runtime:
    """The process's runtime; built from the environment the first time a job asks."""
    global _process_runtime
    with _lock:
        if _process_runtime is None:
            _process_runtime = build_runtime(load_settings(DEFAULT_INSTANCE_PATH))
        return _process_runtime
