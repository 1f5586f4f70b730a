"""An admin's view and edits of the tenant's message templates, each change audited.

The console page and the admin API (``/api/v1/org/notification-templates/<kind>``)
both call these. A template is checked by :func:`rendering.check_template` (the same
sandboxed renderer the worker uses) before anything is stored: one that does not
render is refused per part, never saved. Every save and reset writes an audit entry
in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.admin import audit
from backend.db.models import NotificationTemplate
from backend.db.session import begin_write
from backend.domain.notifications import Kind
from backend.domain.refusal import Refusal
from backend.notifications import rendering
from backend.notifications.rendering import PARTS, SAMPLE_CONTEXT

TARGET_TYPE = "notification_template"


@dataclass(frozen=True)
class TemplateView:
    """One kind's wording as an admin sees it: what is in force, and the default."""

    kind: str
    customized: bool
    parts: dict[str, str]
    defaults: dict[str, str]
    updated_at: datetime | None


def known_kind(kind: str) -> Kind:
    """``kind`` as a :class:`Kind`, or a ``notification_kind_unknown`` refusal."""
    try:
        return Kind(kind)
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise Refusal(
            "notification_kind_unknown", f"no message kind {kind!r}; the kinds are {known}"
        ) from None


def defaults_of(kind: Kind) -> dict[str, str]:
    return {part: rendering.default_source(kind.value, part) for part in PARTS}


def _parts_of(row: NotificationTemplate) -> dict[str, str]:
    return {part: getattr(row, part) for part in PARTS}


def template_view(session: Session, org_id: int, kind: str) -> TemplateView:
    known = known_kind(kind)
    row = rendering.template_of(session, org_id, known.value)
    defaults = defaults_of(known)
    return TemplateView(
        kind=known.value,
        customized=row is not None,
        parts=_parts_of(row) if row is not None else defaults,
        defaults=defaults,
        updated_at=row.updated_at if row is not None else None,
    )


def all_template_views(session: Session, org_id: int) -> list[TemplateView]:
    return [template_view(session, org_id, kind.value) for kind in Kind]


def preview(kind: str, parts: dict[str, Any]) -> rendering.Rendered:
    """The four parts rendered with the sample values, as the worker would render them;
    a ``validation_error`` naming each part that fails (nothing is stored either way)."""
    known = known_kind(kind)
    errors = rendering.check_template(known.value, parts)
    if errors:
        raise Refusal("validation_error", "the template cannot be used", errors=errors)
    unsaved = NotificationTemplate(kind=known.value, **{part: parts[part] for part in PARTS})
    return rendering.render(known.value, dict(SAMPLE_CONTEXT), unsaved)


def save_template(
    session: Session,
    org_id: int,
    kind: str,
    parts: dict[str, Any],
    *,
    actor: str,
    actor_user_id: int | None,
) -> TemplateView:
    """Store the tenant's wording for ``kind`` and its audit entry (committed)."""
    known = known_kind(kind)
    # Refused before the write begins: a bad template touches nothing.
    errors = rendering.check_template(known.value, parts)
    if errors:
        raise Refusal("validation_error", "the template cannot be used", errors=errors)
    begin_write(session)
    before = rendering.template_of(session, org_id, known.value)
    before_parts = _parts_of(before) if before is not None else None
    rendering.store_template(session, org_id, known.value, parts)
    audit.record(
        session,
        org_id,
        actor,
        actor_user_id,
        "notification_template.change",
        TARGET_TYPE,
        known.value,
        before=before_parts,
        after={part: parts[part] for part in PARTS},
    )
    session.commit()
    return template_view(session, org_id, known.value)


def reset_template(
    session: Session, org_id: int, kind: str, *, actor: str, actor_user_id: int | None
) -> TemplateView:
    """Back to the shipped wording for ``kind`` (committed; audited when it changed
    something, so resetting twice leaves one entry)."""
    known = known_kind(kind)
    begin_write(session)
    row = rendering.template_of(session, org_id, known.value)
    if row is not None:
        audit.record(
            session,
            org_id,
            actor,
            actor_user_id,
            "notification_template.reset",
            TARGET_TYPE,
            known.value,
            before=_parts_of(row),
            after=None,
        )
        session.delete(row)
    session.commit()
    return template_view(session, org_id, known.value)
