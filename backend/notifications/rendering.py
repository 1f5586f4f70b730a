"""The words of each message: shipped templates, a tenant's own, and rendering them.

Each kind of message has four templates: ``<kind>.subject``, ``<kind>.txt`` (the
plain-text part), ``<kind>.html`` (the HTML part; it may ``{% include "_layout.html"
%}``) and ``<kind>.sms``. The shipped ones live in ``templates/``; a tenant may
replace all four for a kind (:func:`set_template`), checked before it is stored.

Templates are tenant input, so they run in Jinja's sandbox (no attribute tricks to
reach Python internals) with ``StrictUndefined`` (a misspelt variable is refused when
the template is saved, not discovered in a customer's inbox); the HTML environment
escapes every value, the text ones escape nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.db.models import NotificationTemplate
from backend.db.session import begin_write
from backend.domain.events import FailureReason
from backend.domain.notifications import Kind
from backend.domain.refusal import Refusal
from backend.domain.tracking import failure_in_words

TEMPLATE_DIR = Path(__file__).parent / "templates"
PARTS = ("subject", "text", "html", "sms")
_SUFFIX = {"subject": "subject", "text": "txt", "html": "html", "sms": "sms"}
LIMITS = {"subject": 500, "text": 20_000, "html": 50_000, "sms": 1_000}
# Every variable a template may use, with a sample for checking a tenant's template.
SAMPLE_CONTEXT: dict[str, Any] = {
    "sender": "Acme Deliveries",
    "recipient_name": "Dana",
    "order_number": "A-1042",
    "tracking_url": "https://track.example.com/t/abcdefghijklmnopqrstuvwx",
    "unsubscribe_url": "https://track.example.com/u/example",
    "window": "between 14:00 and 16:00",
    "eta": "in about 12 minutes",
    "delivered_at": "14:32",
    "where_left": "handed to the recipient",
    "reason": failure_in_words(FailureReason.RECIPIENT_ABSENT),
    "next_step": "We will plan another attempt and send you its date.",
    "new_date": "Wednesday 25 November 2026",
    "outcome": "We upheld your report: a refund of 12.50 EUR has been approved.",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str


# What one ``*`` in a tenant's template may build (characters or items); far above
# any message, far below what would hurt the server.
MAX_REPEAT = 10_000


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox also keeps a template from exhausting the server: ``"x" * 10**9``
    would allocate gigabytes and ``10 ** 10 ** 10`` would compute for ever (Jinja would
    even try while compiling, folding constants). ``**`` is refused; ``*`` may repeat a
    text or a list only up to :data:`MAX_REPEAT`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("templates may not raise to a power")
        sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
        if sized:
            count = right if sized[0] is left else left
            if isinstance(count, int) and len(sized[0]) * max(count, 0) > MAX_REPEAT:
                raise SecurityError(f"templates may not repeat more than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


@functools.cache
def _environment(html: bool) -> SandboxedEnvironment:
    return _BoundedSandbox(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=html,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )


def _environment_for(part: str) -> SandboxedEnvironment:
    return _environment(part == "html")


def default_source(kind: str, part: str) -> str:
    return (TEMPLATE_DIR / f"{kind}.{_SUFFIX[part]}").read_text()


def _render_source(part: str, source: str, context: dict[str, Any]) -> str:
    text = _environment_for(part).from_string(source).render(**context)
    # A subject is one line: a newline there would start a new mail header.
    return " ".join(text.split()) if part == "subject" else text.strip() + "\n"


def render(kind: str, context: dict[str, Any], override: NotificationTemplate | None) -> Rendered:
    """The four parts of ``kind`` for ``context``, in the tenant's words if it has some."""
    sources = {
        part: getattr(override, part) if override is not None else default_source(kind, part)
        for part in PARTS
    }
    subject = _render_source("subject", sources["subject"], context)
    # The HTML part's <title> is the subject.
    context = {**context, "subject": subject}
    parts = {part: _render_source(part, sources[part], context) for part in PARTS[1:]}
    return Rendered(subject=subject, **parts)


def template_of(session: Session, org_id: int, kind: str) -> NotificationTemplate | None:
    return session.scalars(
        select(NotificationTemplate).where(
            NotificationTemplate.org_id == org_id, NotificationTemplate.kind == kind
        )
    ).first()


def check_template(kind: str, parts: dict[str, Any]) -> dict[str, list[str]]:
    """Problems with a tenant's template, by part (empty when it is usable)."""
    errors: dict[str, list[str]] = {}
    if kind not in {k.value for k in Kind}:
        errors["kind"] = [f"must be one of {', '.join(k.value for k in Kind)}"]
    for part in PARTS:
        source = parts.get(part)
        if not isinstance(source, str) or not source.strip():
            errors[part] = ["must be a non-empty template"]
            continue
        if len(source) > LIMITS[part]:
            errors[part] = [f"must be at most {LIMITS[part]} characters"]
            continue
        try:
            shown = _render_source(part, source, {**SAMPLE_CONTEXT, "subject": "Subject"})
        except TemplateError as exc:
            errors[part] = [f"does not render: {exc.message or exc}"]
            continue
        # Checked in what renders, not in the source: the shipped HTML carries the link
        # in the layout it includes, and a link inside a branch never taken is no link.
        if part != "subject" and SAMPLE_CONTEXT["tracking_url"] not in shown:
            errors[part] = ["must include {{ tracking_url }}: the recipient's link"]
    return errors


def set_template(session: Session, org_id: int, kind: str, parts: dict[str, Any]) -> None:
    """Store the tenant's own template for ``kind`` (committed), or refuse
    (``validation_error``) naming each part that would not render."""
    store_template(session, org_id, kind, parts)
    session.commit()


def store_template(
    session: Session, org_id: int, kind: str, parts: dict[str, Any]
) -> NotificationTemplate:
    """:func:`set_template` without the commit, for a caller that records more in the
    same transaction (the admin's audit entry)."""
    errors = check_template(kind, parts)
    if errors:
        raise Refusal("validation_error", "the template cannot be used", errors=errors)
    begin_write(session)
    row = template_of(session, org_id, kind)
    if row is None:
        row = NotificationTemplate(org_id=org_id, kind=kind)
        session.add(row)
    for part in PARTS:
        setattr(row, part, parts[part])
    row.updated_at = clock.now()
    return row


def reset_template(session: Session, org_id: int, kind: str) -> None:
    """Back to the shipped wording for ``kind`` (committed)."""
    begin_write(session)
    row = template_of(session, org_id, kind)
    if row is not None:
        session.delete(row)
    session.commit()
