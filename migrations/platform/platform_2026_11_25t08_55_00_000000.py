from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-25T08:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"


class _Raw(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="platform", description=DESCRIPTION)

    # SQLite cannot add a table constraint after creation, so both engines get the same unique index.
    async def create_unique_indexes():
        await _Raw.raw(
            "CREATE UNIQUE INDEX membership_account_covenant_role ON membership (account, covenant, role)"
        )
        await _Raw.raw("CREATE UNIQUE INDEX audit_entry_chain_seq ON audit_entry (chain, seq)")

    manager.add_raw(create_unique_indexes)
    return manager
