"""The migrations build the schema the code describes, on SQLite and on PostgreSQL alike."""

from piccolo.apps.migrations.commands.new import AutoMigrationManager
from piccolo.conf.apps import Finder

from imvo.platform.tables import AuditEntry, Membership


async def test_no_table_change_is_missing_a_migration():
    """Fails when a table class changed and nobody ran `piccolo migrations new <app> --auto`."""
    for app_config in Finder().get_app_configs():
        statements = await AutoMigrationManager(auto_input="n").get_alter_statements(app_config=app_config)
        pending = [s for group in statements for s in group.statements]
        assert pending == [], f"{app_config.app_name} needs a migration:\n" + "\n".join(pending)


async def test_every_table_exists_with_every_column():
    for table in Finder().get_table_classes():
        assert await table.table_exists(), table._meta.tablename
        # Selecting every declared column fails if the database lacks one.
        await table.select(*table._meta.columns).limit(1)


async def test_the_composite_unique_indexes_exist():
    """Made by raw SQL in a migration (SQLite cannot add constraints), so checked here by their effect."""
    for table, index in (
        (Membership, "membership_account_covenant_role"),
        (AuditEntry, "audit_entry_chain_seq"),
    ):
        indexes = await table.indexes()
        assert index in indexes, indexes
