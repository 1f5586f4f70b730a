"""Back office's decisions on exceptions: recorded all or none, each with its audit
row, and what a decision sets in motion (a re-plan, a held copy settled)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.auth.tokens import Principal
from backend.db.models import (
    Conflict,
    ExceptionDecision,
    Stop,
)
from backend.db.session import begin_write
from backend.domain.reconcile import (
    CONFLICTS_WITH_OWN_KIND,
    Decision,
    ExceptionKind,
)
from backend.domain.refusal import Refusal, not_found
from backend.planning.service import plan_next_attempts
from backend.reconciliation.review import review_day
from backend.sync.changes import lock_plan, record_status_changes, record_stop_change
from backend.sync.derive import derive_many


@dataclass(frozen=True)
class DecisionTarget:
    """One exception of one stop, as a decision names it."""

    stop_id: int
    kind: str


def decide(
    session: Session,
    principal: Principal,
    stop_id: int,
    kind: str,
    decision: Decision,
    note: str,
) -> ExceptionDecision:
    """Record a decision on one open exception of a stop (with the audit trail)."""
    [row] = decide_many(session, principal, [DecisionTarget(stop_id, kind)], decision, note)
    return row


def decide_many(
    session: Session,
    principal: Principal,
    targets: Sequence[DecisionTarget],
    decision: Decision,
    note: str,
) -> list[ExceptionDecision]:
    """Record one decision, with one note, on each of ``targets``: all or none.

    Every target must be an exception that is open right now; if any is not (another
    dispatcher cleared it a moment ago, or it never existed), nothing is recorded and
    the error names each one, so a bulk action never half-applies.
    """
    if decision is Decision.REJECT and not note.strip():
        raise Refusal(
            "validation_error",
            "say why the proof is rejected",
            errors={"note": ["required when rejecting"]},
        )
    unique = list(dict.fromkeys(targets))
    begin_write(session)
    lock_plan(session, principal.org_id)
    stops = {
        stop.id: stop
        for stop in session.scalars(select(Stop).where(Stop.id.in_({t.stop_id for t in unique})))
    }
    if any(t.stop_id not in stops for t in unique):
        raise not_found("stop")
    open_kinds: dict[int, set[str]] = {}
    for service_date in {stop.service_date for stop in stops.values()}:
        ids = [i for i, stop in stops.items() if stop.service_date == service_date]
        for review in review_day(session, service_date, None, stop_ids=ids):
            open_kinds[review.stop.id] = {e.kind.value for e in review.open_exceptions}
    closed = [t for t in unique if t.kind not in open_kinds.get(t.stop_id, set())]
    if closed:
        first = closed[0]
        raise Refusal(
            "exception_not_open",
            f"the stop has no open {first.kind} exception"
            if len(unique) == 1
            else f"{len(closed)} of the {len(unique)} exceptions are no longer open; "
            "nothing was recorded",
            errors={"not_open": [f"{t.stop_id}:{t.kind}" for t in closed]}
            if len(unique) > 1
            else None,
        )
    rows = []
    # A stop is re-planned once, however many of its exceptions are rejected.
    replanned: dict[int, int] = {
        stop_id: clone_id
        for stop_id, clone_id in session.execute(
            select(ExceptionDecision.stop_id, ExceptionDecision.replanned_stop_id).where(
                ExceptionDecision.stop_id.in_(list(stops)),
                ExceptionDecision.replanned_stop_id.is_not(None),
            )
        )
        if clone_id is not None
    }
    if decision is Decision.REJECT:
        to_replan = [stops[i] for i in dict.fromkeys(t.stop_id for t in unique)]
        replanned.update(_replan(session, [s for s in to_replan if s.id not in replanned]))
    if decision.clears:
        _resolve_conflicts(session, unique, principal, note)
        reported_late = [
            stops[t.stop_id] for t in unique if t.kind == ExceptionKind.REPORTED_AFTER_REPLAN
        ]
        _settle_held_copies(session, reported_late, keep=decision is Decision.REJECT, note=note)
    for target in unique:
        row = ExceptionDecision(
            org_id=principal.org_id,
            stop_id=target.stop_id,
            kind=target.kind,
            decision=decision,
            note=note,
            user_id=principal.user_id,
            replanned_stop_id=replanned.get(target.stop_id)
            if decision is Decision.REJECT
            else None,
        )
        session.add(row)
        rows.append(row)
    session.commit()
    return rows


def _conflict_matches(exception_kind: str, conflict_kind: str) -> bool:
    """Which open conflicts a decision on ``exception_kind`` settles."""
    own = CONFLICTS_WITH_OWN_KIND.get(conflict_kind)
    if own is not None:
        return own.value == exception_kind
    return exception_kind == ExceptionKind.OPEN_CONFLICT.value


def _resolve_conflicts(
    session: Session, targets: Sequence[DecisionTarget], principal: Principal, note: str
) -> None:
    """Resolve the open conflicts behind the decided exceptions, in one query."""
    kinds: dict[int, set[str]] = defaultdict(set)
    for target in targets:
        kinds[target.stop_id].add(target.kind)
    now = clock.now()
    for conflict in session.scalars(
        select(Conflict).where(Conflict.stop_id.in_(list(kinds)), Conflict.status == "open")
    ):
        if any(_conflict_matches(kind, conflict.kind) for kind in kinds[conflict.stop_id]):
            conflict.status = "resolved"
            conflict.resolved_at = now
            conflict.resolved_by = principal.user_id
            conflict.resolution_note = note


def _settle_held_copies(
    session: Session, originals: Sequence[Stop], *, keep: bool, note: str
) -> None:
    """Back office decided on reports that came in after these stops were re-planned.

    Rejecting the report keeps the re-planned copy: it is released to be planned.
    Accepting it means the parcel was handled after all: the copy is cancelled.
    Either way the copy changes as a plan change, published to any driver holding it.
    """
    copy_ids = [o.replanned_as_id for o in originals if o.replanned_as_id is not None]
    if not copy_ids:
        return
    now = clock.now()
    copies = list(session.scalars(select(Stop).where(Stop.id.in_(copy_ids))))
    for copy in copies:
        copy.held_at = None
        copy.version += 1
        if not keep:
            copy.cancelled_at = now
            copy.cancel_reason = f"the earlier attempt was reported on after all: {note}"[:500]
            copy.material_version = copy.version
    derivations = derive_many(session, copies)
    for copy in copies:
        copy.status = derivations[copy.id].status
        record_stop_change(session, copy)


def _replan(session: Session, originals: Sequence[Stop]) -> dict[int, int]:
    """Another attempt of each original, the next day, for dispatch to assign.

    Every report on the originals stays as it is; each original is withdrawn from its
    driver (it stays on the manifest as history), so the parcel is never attempted on
    both. Returns original stop id -> new stop id.
    """
    attempts = plan_next_attempts(
        session, originals, {stop.id: stop.service_date + timedelta(days=1) for stop in originals}
    )
    now = clock.now()
    for stop in originals:
        stop.replanned_at = now
        stop.replanned_as_id = attempts[stop.id]
        stop.version += 1
    record_status_changes(session, list(originals))  # a remove for each driver
    return attempts
