"""The one way the domain says no.

A service that refuses a request raises :class:`Refusal` with a stable ``code`` and a
sentence for a person. It never says how the refusal is shown: the API maps each code
to an HTTP status in one table (``backend.errors.STATUS_BY_CODE``), the console
re-renders its form with the message, the CLI prints it and exits non-zero. Codes are
part of the API and listed in docs/api.md.

Narrower kinds (``EventRejected``, ``PlanError``, ``StoreError`` ...) are subclasses,
so a caller can catch just the family it knows how to handle; they add no fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Refusal(Exception):
    """The request cannot be done as asked; ``code`` says why in stable words.

    ``field`` names the one input at fault, when there is one; ``errors`` carries
    per-field detail (``{"field": ["message", ...]}``) for forms and validation.
    ``retry_after_s`` is set when trying again later can succeed.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        errors: Mapping[str, Any] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.errors = dict(errors) if errors is not None else None
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


def not_found(what: str = "resource") -> Refusal:
    # One answer for "does not exist" and "not yours", so ids cannot be probed.
    return Refusal("not_found", f"{what} not found")
