"""The storage contract (scimcore.testing.StorageContract) on every backend."""

from scimcore.testing import StorageContract


class TestStorageContract(StorageContract):
    """``store`` comes from conftest: memory, SQLite and PostgreSQL."""
