"""Who a user is (their role) and what one user may do on top of it (their grants)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    DRIVER = "driver"
    DISPATCHER = "dispatcher"
    SUPPORT = "support"
    ADMIN = "admin"


class Grant(enum.StrEnum):
    """A permission given to one user on top of their role.

    Roles keep duties apart (support settles disputes, dispatch changes plans); a grant
    lets a named person do one more thing, such as a dispatch lead who also settles
    disputes, without making them an admin.
    """

    RESOLVE_DISPUTES = "resolve_disputes"
