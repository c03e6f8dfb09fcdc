"""Domain errors of the review store.

The web layer maps them to HTTP statuses in one place (see ``HTTP_STATUS``), so routes never
translate errors one by one and the mapping cannot drift between pages and the JSON API.
"""

from __future__ import annotations


class ReviewError(Exception):
    """Base of every error the review store raises on purpose."""


class InvalidInput(ReviewError, ValueError):
    """A value from a person or a file is not acceptable (bad name, unknown category, ...)."""


class NotFound(ReviewError, LookupError):
    """The user, flag or list named does not exist."""


class Conflict(ReviewError):
    """The change clashes with the current state (duplicate user name, flag already decided)."""


class LoginRequired(ReviewError, PermissionError):
    """Nobody is signed in and the action needs someone who is."""


class Forbidden(ReviewError, PermissionError):
    """The signed-in user may not do this (role too low, account disabled)."""


class SecondReviewerRequired(Forbidden):
    """Confirming or dismissing a flag needs a different reviewer than the one who raised it."""


class CsrfError(Forbidden):
    """A state-changing request came without the token bound to its session."""


class RateLimited(ReviewError):
    """Too many failed sign-ins for an account or from an address."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LoginFailed(ReviewError):
    """Wrong name or password, or a disabled account (deliberately not told apart)."""


class BlocklistFormatError(InvalidInput):
    """A blocklist file could not be read; the message names the file and the problem."""


class BlocklistUnresolved(ReviewError):
    """Hash blocklists apply to a dataset but no catalog resolver is registered for it.

    Raised rather than answering with a partial hidden set: the safety model fails closed.
    """


# One table for the web layer: exception class -> HTTP status (first match wins, so the
# more specific classes come first).
HTTP_STATUS: tuple[tuple[type[ReviewError], int], ...] = (
    (RateLimited, 429),
    (LoginRequired, 401),
    (CsrfError, 403),
    (Forbidden, 403),
    (LoginFailed, 401),
    (NotFound, 404),
    (Conflict, 409),
    (BlocklistFormatError, 400),
    (InvalidInput, 400),
    (BlocklistUnresolved, 503),
)


def http_status(error: ReviewError) -> int:
    for cls, status in HTTP_STATUS:
        if isinstance(error, cls):
            return status
    return 500
