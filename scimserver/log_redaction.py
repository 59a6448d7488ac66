"""Credential-shaped text masked wherever it would be logged.

A client may put a token anywhere: in the path (``/Users/<token>``, the organization
segment), as a query parameter's name or value, in ``User-Agent`` or ``Referer``. The
app refuses such requests, but their text still reaches the access log and the error
log. :func:`mask_credentials` replaces every piece of text that holds something shaped
like a credential this service issues or accepts (:data:`scimcore.auth.CREDENTIAL_SHAPE`,
the notion the app's refusal uses: a ``scim_`` secret token or a JWT) by ``[redacted]``.

Text is cut into runs between URL and header delimiters (``/ ? & = ; , : # @``, quotes,
brackets, white space); a run is masked whole when its percent-decoded form holds a
credential, so ``scim%5F...`` or ``Bearer%20scim_...`` are caught too, and the rest of
the line stays byte for byte what the client sent.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from scimcore.auth import CREDENTIAL_SHAPE, holds_credential

REDACTED = "[redacted]"

#: A run of text between delimiters of a request line, a query string or a header value.
_RUN = re.compile(r"""[^/?&=;,:#@\s"'<>()\[\]{}|\\]+""")


def _masked_run(match: re.Match[str]) -> str:
    run = match.group(0)
    return REDACTED if holds_credential(unquote_plus(run)) else run


def mask_credentials(text: str) -> str:
    """``text`` with every run that holds a token or a JWT replaced by ``[redacted]``."""
    if CREDENTIAL_SHAPE.search(text) is None and (
        "%" not in text or CREDENTIAL_SHAPE.search(unquote_plus(text)) is None
    ):
        # The common case, also for a percent-encoded filter: nothing shaped like a
        # credential, even decoded. (A run that decodes to one makes the whole text
        # decode to one: an escape never spans a delimiter.)
        return text
    return _RUN.sub(_masked_run, text)


class CredentialMasking(logging.Filter):
    """A logging filter that masks credentials in a record's message and traceback.

    Installed on the service's own loggers and gunicorn's error log, so that a line such
    as "unexpected error handling GET /scim/v2/organizations/<token>/Users" never writes
    the token, whatever code logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a faulty log call: left to the handler, which reports it
            return True
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_credentials(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_credentials(record.stack_info)
        return True


_FILTER = CredentialMasking()


def masked_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records never hold a credential."""
    logger = logging.getLogger(name)
    mask_logger(logger)
    return logger


def mask_logger(logger: logging.Logger) -> None:
    """Install the masking filter on ``logger`` (once)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def mask_service_logs() -> None:
    """Mask credentials in every log line of the service, whoever logs it.

    Logger filters do not apply to child loggers, so every logger of ``scimcore``,
    ``scimserver`` and ``gunicorn`` that exists gets the filter; so do the root logger's
    handlers and :data:`logging.lastResort` (where the library's warnings go when the
    operator configured no logging), which catches loggers created later too."""
    for name in list(logging.root.manager.loggerDict):
        if name.split(".", 1)[0] in ("scimcore", "scimserver", "gunicorn"):
            mask_logger(logging.getLogger(name))
    for handler in (*logging.getLogger().handlers, logging.lastResort):
        if handler is not None and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
