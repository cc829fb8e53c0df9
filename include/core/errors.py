"""The one base class of the errors this package raises on purpose, and the errors more than one area raises.

Every package error derives from :class:`GenascopeError` (and keeps the builtin it always was, so existing
``except ValueError`` / ``except RuntimeError`` / ``except OSError`` still hold). Messages carry ids, counts
and reason codes only (never a row value) and say what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class GenascopeError(Exception):
    """Base of every error the pipeline raises on purpose (``except GenascopeError`` = "a known refusal")."""


class ConfirmationMissing(GenascopeError, ValueError):
    """A real (not dry) run of a destructive step without its confirmation word (the rollback's ``ROLLBACK``,
    stewardship's ``MERGE``, ``UNDO_IMPORT``, ...): nothing was changed."""


class UnsafePath(GenascopeError, OSError, ValueError):
    """A path the pipeline must read or write is not what it may touch: a symlink or not a regular file or
    folder (owner-only files), or a path segment from a request that is not a plain name (traversal, a
    hidden file, an unknown DAG)."""


class GateFailed(GenascopeError, RuntimeError):
    """A data-quality gate did not pass. The message names the rule (or expectation suite), the row count and
    ids only; ``results`` holds the gate results it failed on, when the caller has them."""

    def __init__(self, message: str, results: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.results = list(results)


__all__ = ["ConfirmationMissing", "GateFailed", "GenascopeError", "UnsafePath"]
