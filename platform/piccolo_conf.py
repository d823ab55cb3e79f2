"""Piccolo's configuration: the engine from DATABASE_URL, and the apps whose tables and migrations it owns.

Piccolo finds this module through PICCOLO_CONF=imvo.platform.piccolo_conf (set by imvo.platform.db).
"""

from pathlib import Path

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from imvo.platform.settings import database_url_from_env

_url = database_url_from_env()
if _url.startswith(("postgres://", "postgresql://")):
    DB = PostgresEngine(config={"dsn": _url}, log_queries=False)
else:
    _path = Path(_url.removeprefix("sqlite:///"))
    _path.parent.mkdir(parents=True, exist_ok=True)
    DB = SQLiteEngine(path=str(_path), timeout=30)

APP_REGISTRY = AppRegistry(apps=["imvo.platform.piccolo_app"])
