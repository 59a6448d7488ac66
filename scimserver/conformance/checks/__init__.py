"""The checks, one module per area; importing this package registers them in run order."""

from . import (  # noqa: F401
    auth,
    bulk,
    crud,
    discovery,
    entra,
    etags,
    filtering,
    me,
    okta,
    paging,
    patch,
    projection,
    sorting,
    uniqueness,
)
