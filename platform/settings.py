"""Configuration, read once from the environment.

Every variable is listed in the README; the defaults run the platform on one machine with SQLite and
in-process jobs, with no other service.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url_from_env() -> str:
    """DATABASE_URL, or an SQLite file in the data folder."""
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var"))
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'imvo.sqlite3'}"


def _secret_key(data_dir: Path) -> str:
    """The key that signs sessions, CSRF tokens and mail links.

    Without SECRET_KEY a key is made once and kept in the data folder, so a development server keeps its
    sessions across restarts. Production sets SECRET_KEY and shares it between all web processes.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class PasswordCost:
    """Argon2id parameters: OWASP's first recommendation (46 MiB, 1 pass, 1 lane).

    RFC 9106's 64 MiB / 3 passes / 4 lanes took 0.9 s on our 2-core machine (bench/requests.py): a sign-in
    queue and an easy way to exhaust the server. Stored hashes carry their parameters and are upgraded at the
    next sign-in when these change.
    """

    memory_kib: int = 46 * 1024
    iterations: int = 1
    lanes: int = 1


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    data_dir: Path = ROOT / "var"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = "none"  # none | starttls | tls
    mail_from: str = "Covenant platform <no-reply@localhost>"
    default_locale: str = "en"
    session_hours: int = 8
    password_cost: PasswordCost = field(default_factory=PasswordCost)
    login_attempts_per_15_min: int = 10
    api_requests_per_minute: int = 120
    job_poll_seconds: float = 2.0
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose X-Forwarded-For is believed
    debug: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var"))
        return cls(
            database_url=database_url_from_env(),
            secret_key=_secret_key(data_dir),
            base_url=os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            redis_url=os.environ.get("REDIS_URL") or None,
            data_dir=data_dir,
            smtp_host=os.environ.get("SMTP_HOST") or None,
            smtp_port=int(os.environ.get("SMTP_PORT", "25")),
            smtp_user=os.environ.get("SMTP_USER") or None,
            smtp_password=os.environ.get("SMTP_PASSWORD") or None,
            smtp_tls=os.environ.get("SMTP_TLS", "none"),
            mail_from=os.environ.get("MAIL_FROM", "Covenant platform <no-reply@localhost>"),
            default_locale=os.environ.get("DEFAULT_LOCALE", "en"),
            debug=_flag(os.environ.get("DEBUG")),
            trusted_proxies=tuple(
                p.strip() for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def https(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))
