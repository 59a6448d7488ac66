"""CSV import and export (docs/csv.md): service accounts and users.

``read_csv`` checks a whole file first (every file-level problem is reported at once,
and nothing is written); the importers then apply rows in file order, failing only
the bad rows (or, with ``atomic``, rolling everything back). Exports stream.
"""

from .formats import FORMATS, SERVICE_ACCOUNTS, USERS, Column, CsvFormat
from .importer import CHANGING, OUTCOMES, ImportOptions, ImportReport, RowError, RowResult
from .reader import DEFAULT_MAX_BYTES, CsvFileError, read_csv
from .service_accounts import ServiceAccountImporter, export_service_accounts
from .templates import write_service_account_template, write_user_template
from .users import UserImporter, export_users
from .writer import CsvWriter

__all__ = [
    "CHANGING",
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "OUTCOMES",
    "SERVICE_ACCOUNTS",
    "USERS",
    "Column",
    "CsvFileError",
    "CsvFormat",
    "CsvWriter",
    "ImportOptions",
    "ImportReport",
    "RowError",
    "RowResult",
    "ServiceAccountImporter",
    "UserImporter",
    "export_service_accounts",
    "export_users",
    "read_csv",
    "write_service_account_template",
    "write_user_template",
]
