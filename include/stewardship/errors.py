"""Stewardship's exception types; messages carry ids and reason codes only, and say what to do next."""

from __future__ import annotations

from include.core.errors import GenascopeError


class StewardshipError(GenascopeError, RuntimeError):
    """Base class of stewardship failures."""


class BadRequest(StewardshipError):
    """The request itself is invalid (unknown action, missing ids, unreadable decisions file)."""


class ActionRefused(StewardshipError):
    """The database state does not allow the action; ``reason_code`` says why (recorded in the action log)."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code


class StewardshipDbError(StewardshipError):
    """A database step failed; the message has the action, SQLSTATE and constraint only (no values)."""
