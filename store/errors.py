"""Tailor's domain errors.

One base class with typed subclasses, each carrying a stable ``code``. The
HTTP layer maps them to status codes in one place (``service/errors.py``) and
the CLI turns them into ``click.ClickException``; nothing below the service
catches and logs them away.
"""


class TailorError(Exception):
    """Base class of every error Tailor raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInputError(TailorError):
    """The caller sent something Tailor cannot accept."""

    code = "invalid_input"


class NotFoundError(TailorError):
    """An id the caller named does not exist for this tenant and user."""

    code = "not_found"


class ConflictError(TailorError):
    """The request contradicts what is already stored (e.g. an idempotency key reused)."""

    code = "conflict"


class UnavailableError(TailorError):
    """A dependency the request needs is not configured or not ready."""

    code = "unavailable"
