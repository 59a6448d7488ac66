"""Starting files for the two CSV formats: the header an import reads, and one example
row per service the organization has, with the columns that apply to that service
filled in (the others left empty, as an import expects).

An administrator who opens the template in Excel sees what each service takes: Google
Workspace's ``mailProxyActive``, Microsoft 365's and cybozu.com's ``licenseProfile`` (one
the service really has), a form-based login's ``servicePassword`` (required on CREATE;
``immutableId`` stays empty: the service assigns it). The examples
are ``CREATE`` rows for ``user@example.com``, to be replaced: a service-account row
imported as it is fails on the unknown user and changes nothing; the user template's
row would create that user, so it is to be replaced too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from ...accounts.models import Integration
from .formats import SERVICE_ACCOUNTS, USERS, CsvFormat
from .writer import CsvWriter

#: The user the example rows name (a reserved domain, RFC 2606).
EXAMPLE_USER = "user@example.com"


def template_columns(fmt: CsvFormat) -> list[str]:
    """The columns an import reads, in the format's order (export-only ones left out)."""
    return [c.name for c in fmt.columns if not c.export_only]


def write_service_account_template(
    integrations: Sequence[Integration], out: BinaryIO, *, bom: bool = False
) -> int:
    """The service-account header and one example row per integration; returns rows."""
    columns = template_columns(SERVICE_ACCOUNTS)
    with CsvWriter(out, bom=bom) as writer:
        writer.writerow(columns)
        for integration in integrations:
            writer.writerow([_account_cell(integration, c) for c in columns])
        return writer.rows - 1


def _account_cell(integration: Integration, column: str) -> str:
    service = integration.service
    profiles = integration.settings.license_profiles
    values = {
        "operation": "CREATE",
        "serviceDisplayName": integration.display_name,
        "userId": EXAMPLE_USER,
        "accountId": EXAMPLE_USER,
        "mailProxyActive": "FALSE" if service.mail_proxy else "",
        "licenseProfile": profiles[0] if service.license_profiles and profiles else "",
        "servicePassword": "(the account's password)" if service.service_password else "",
    }
    return values.get(column, "")


def write_user_template(out: BinaryIO, *, bom: bool = False) -> int:
    """The user header and one example row (a Japanese name, both parts given)."""
    example = {
        "operation": "CREATE",
        "userName": EXAMPLE_USER,
        "lastName": "山田",
        "firstName": "花子",
        "displayName": "山田 花子",
        "emails": EXAMPLE_USER,
        "active": "TRUE",
        "department": "情報システム部",
    }
    columns = template_columns(USERS)
    with CsvWriter(out, bom=bom) as writer:
        writer.writerow(columns)
        writer.writerow([example.get(c, "") for c in columns])
        return 1
