from piccolo.conf.apps import AppConfig, table_finder

from imvo.platform.settings import ROOT

APP_CONFIG = AppConfig(
    app_name="platform",
    migrations_folder_path=str(ROOT / "migrations" / "platform"),
    table_classes=table_finder(modules=["imvo.platform.tables"], exclude_imported=True),
)
