"""An organization's people: accounts, roles, contact details, passwords and access.

Every function here is one administrative action in one transaction, with its audit
entry (``backend.admin.audit``) committed in the same transaction. The API, the
console and the operator's command line call the same functions; ``Actor`` says who
acted (an operator at the command line has no user id).

Invariants held here:

- usernames are unique across tenants (the login form does not ask for one);
- an organization always keeps at least one active admin: the last one can be neither
  deactivated nor given another role; and no admin deactivates or resets themself;
- a password set by someone other than its user (a new account, a reset) must be
  changed at the user's next sign-in (``must_change_password``); until then their
  tokens and console session may only change it (``backend.auth.guard``);
- deactivating an account ends its console sessions and revokes its refresh tokens in
  the same transaction, and the guard refuses its access tokens on the next request;
  so does a password reset, since a reset usually means the password got out.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.auth.passwords import hash_password, verify_password
from backend.auth.tokens import Principal
from backend.db.models import ConsoleSession, Organization, RefreshToken, User
from backend.db.session import begin_write
from backend.domain import password_policy
from backend.domain.clock import utc_text
from backend.domain.refusal import Refusal, not_found
from backend.domain.roles import Role

# Letters, digits and . _ @ - : what fits a login form and an e-mail-style name.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,149}")
PHONE = re.compile(r"\+?[0-9 ()./-]{3,40}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
# No 0/O, 1/l/I: a one-time password is read aloud or copied from a screen.
_ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Actor:
    """Who performs an administrative action, as the audit log records them."""

    name: str
    user_id: int | None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.username, principal.user_id)


OPERATOR = Actor(audit.OPERATOR, None)


@dataclass(frozen=True)
class NewAccount:
    """A created (or reset) account and the one-time password to hand its user."""

    user: User
    one_time_password: str | None


def one_time_password() -> str:
    """A random password that passes the policy: 4 groups of 4 (about 79 bits)."""
    while True:
        groups = ("".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))
        candidate = "-".join(groups)
        if not password_policy.problems(candidate):
            return candidate


def user_facts(user: User) -> dict[str, Any]:
    """What the audit log keeps of an account: never its password hash."""
    return {
        "username": user.username,
        "full_name": user.full_name,
        "phone": user.phone,
        "email": user.email,
        "role": user.role.value,
        "is_active": user.is_active,
        "must_change_password": user.must_change_password,
    }


def _record(
    session: Session,
    actor: Actor,
    action: str,
    user: User,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    audit.record(
        session, user.org_id, actor.name, actor.user_id, action, "user", user.id, before, after
    )


# --- checks shared by every way in ------------------------------------------------


def valid_username(username: str, errors: dict[str, list[str]]) -> str:
    name = username.strip()
    if not USERNAME.fullmatch(name):
        errors.setdefault("username", []).append(
            "use 1 to 150 letters, digits and . _ @ - (starting with a letter or digit)"
        )
    return name


def valid_role(role: object, errors: dict[str, list[str]]) -> Role | None:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        errors.setdefault("role", []).append(f"unknown role {role!r}; use one of: {choices}")
        return None


def valid_contact(fields: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, str]:
    """The contact fields present in ``fields``, trimmed; empty text clears one."""
    found: dict[str, str] = {}
    limits = {"full_name": 200, "phone": 40, "email": 254}
    patterns = {"phone": (PHONE, "digits, spaces and + ( ) . / -"), "email": (EMAIL, "name@domain")}
    for name, limit in limits.items():
        if name not in fields or fields[name] is None:
            continue
        value = str(fields[name]).strip()
        if len(value) > limit:
            errors.setdefault(name, []).append(f"at most {limit} characters")
        elif value and name in patterns and not patterns[name][0].fullmatch(value):
            errors.setdefault(name, []).append(f"not a valid {name}: use {patterns[name][1]}")
        found[name] = value
    return found


def username_taken(session: Session, username: str) -> bool:
    """Whether any tenant has ``username`` (case-insensitive).

    Read from the table, not through the ORM entity, so a session scoped to one tenant
    still sees the others' names: uniqueness spans every tenant.
    """
    table = User.__table__
    found = session.execute(
        select(table.c.id).where(func.lower(table.c.username) == username.lower())
    ).first()
    return found is not None


def _refuse(errors: dict[str, list[str]], code: str = "validation_error") -> None:
    if errors:
        field = next(iter(errors))
        raise Refusal(code, f"{field}: {errors[field][0]}", field=field, errors=errors)


# --- reading ---------------------------------------------------------------------


def list_users(session: Session) -> list[User]:
    """The tenant's accounts, active first, then by username."""
    return list(session.scalars(select(User).order_by(User.is_active.desc(), User.username)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


def _org_id_of(session: Session, slug: str) -> int:
    org_id = session.scalar(select(Organization.id).where(Organization.slug == slug))
    if org_id is None:
        raise Refusal("not_found", f"no organization {slug!r}", field="org")
    return org_id


def _user(session: Session, user: int | str) -> User:
    """The account with id ``user``, or (the operator's look-up) named ``user``."""
    return get_user(session, user) if isinstance(user, int) else find_user(session, user)


def find_user(session: Session, username: str) -> User:
    """The account named ``username`` in whatever tenant (the operator's look-up)."""
    user = session.scalars(select(User).where(User.username == username.strip())).one_or_none()
    if user is None:
        raise Refusal("not_found", f"no user {username!r}", field="username")
    return user


# --- writing ---------------------------------------------------------------------


def add_user(
    session: Session,
    actor: Actor,
    org: int | str,
    *,
    username: str,
    role: object,
    full_name: str = "",
    phone: str = "",
    email: str = "",
    password: str | None = None,
    must_change_password: bool = True,
) -> NewAccount:
    """Create one account (committed); without ``password`` a one-time one is made.

    ``org`` is the organization's id, or its slug (the operator's command line).
    """
    begin_write(session)
    org_id = org if isinstance(org, int) else _org_id_of(session, org)
    fields = {
        "username": username,
        "role": role,
        "full_name": full_name,
        "phone": phone,
        "email": email,
    }
    created = _create(
        session, org_id, _draft(session, fields, password), password, must_change_password
    )
    _record(session, actor, "user.create", created.user, None, user_facts(created.user))
    session.commit()
    return created


@dataclass(frozen=True)
class _Draft:
    """A new account's fields, checked; nothing hashed or written yet."""

    username: str
    role: Role
    contact: dict[str, str]


def _draft(
    session: Session,
    fields: Mapping[str, Any],
    password: str | None,
    taken: set[str] | None = None,
) -> _Draft:
    """Check one new account's fields, or refuse naming every field at fault."""
    errors: dict[str, list[str]] = {}
    username = valid_username(str(fields.get("username") or ""), errors)
    role = valid_role(fields.get("role"), errors)
    contact = valid_contact(fields, errors)
    if password is not None:
        found = password_policy.problems(password, username)
        if found:
            errors["password"] = found
    _refuse(errors, "weak_password" if list(errors) == ["password"] else "validation_error")
    if username_taken(session, username) or (taken is not None and username.lower() in taken):
        _refuse_taken(username)
    if taken is not None:
        taken.add(username.lower())
    assert role is not None
    return _Draft(username, role, contact)


def _refuse_taken(username: str) -> None:
    message = f"the username {username!r} is taken (usernames are unique across tenants)"
    raise Refusal("username_taken", message, field="username", errors={"username": [message]})


def _create(
    session: Session,
    org_id: int,
    draft: _Draft,
    password: str | None,
    must_change_password: bool,
) -> NewAccount:
    """Add the checked account (flushed, not committed); hashing is the slow part."""
    secret = password if password is not None else one_time_password()
    user = User(
        org_id=org_id,
        username=draft.username,
        role=draft.role,
        full_name=draft.contact.get("full_name", ""),
        phone=draft.contact.get("phone", ""),
        email=draft.contact.get("email", ""),
        password_hash=hash_password(secret),
        must_change_password=must_change_password,
        password_changed_at=clock.now(),
        grants=[],
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Taken between the check and the insert, by a request running at the same time.
        _refuse_taken(draft.username)
    return NewAccount(user, None if password is not None else secret)


def import_users(
    session: Session,
    actor: Actor,
    org_id: int,
    rows: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[NewAccount]:
    """Create every row's account or none (``import_invalid`` names each bad row).

    Rows come keyed by their line (``people_csv.parse``); each new account gets a
    one-time password and must choose its own at first sign-in.
    """
    begin_write(session)
    drafts: list[_Draft] = []
    problems: dict[str, dict[str, list[str]]] = {}
    taken: set[str] = set()
    # Every row is checked before any password is hashed: a bad file costs no hashing.
    for line, fields in rows:
        if "__extra__" in fields:
            problems[line] = {"_row": ["this row has more values than the header has columns"]}
            continue
        try:
            drafts.append(_draft(session, fields, None, taken))
        except Refusal as refusal:
            problems[line] = refusal.errors or {"_row": [refusal.message]}
    if problems:
        raise Refusal(
            "import_invalid",
            f"{len(problems)} row(s) are invalid; nobody was added",
            field="rows",
            errors={"rows": problems},
        )
    created = [_create(session, org_id, draft, None, True) for draft in drafts]
    for account in created:
        _record(
            session,
            actor,
            "user.create",
            account.user,
            None,
            {**user_facts(account.user), "source": "csv import"},
        )
    session.commit()
    return created


def update_user(session: Session, actor: Actor, user_id: int, changes: Mapping[str, Any]) -> User:
    """Change an account's name, phone, e-mail or role (committed, audited)."""
    begin_write(session)
    user = get_user(session, user_id)
    errors: dict[str, list[str]] = {}
    contact = valid_contact(changes, errors)
    role = user.role
    if changes.get("role") is not None:
        role = valid_role(changes["role"], errors) or user.role
    _refuse(errors)
    if user.role is Role.ADMIN and role is not Role.ADMIN and user.is_active:
        _refuse_if_last_admin(session, user, "role", "demoted")
    before = user_facts(user)
    for name, value in contact.items():
        setattr(user, name, value)
    user.role = role
    after = user_facts(user)
    if after != before:
        _record(session, actor, "user.update", user, before, after)
    session.commit()
    return user


def set_active(session: Session, actor: Actor, ref: int | str, *, active: bool) -> User:
    """Deactivate (ending every session and token at once) or reactivate an account.

    Doing what is already done changes nothing and records nothing.
    """
    begin_write(session)
    user = _user(session, ref)
    if user.is_active == active:
        session.rollback()
        return user
    if not active and user.role is Role.ADMIN:
        _refuse_if_last_admin(session, user, "is_active", "deactivated")
    if not active:
        _refuse_if_own_account(actor, user, "is_active", "deactivate your own account")
    before = user_facts(user)
    user.is_active = active
    if not active:
        end_access(session, user)
    _record(
        session,
        actor,
        "user.activate" if active else "user.deactivate",
        user,
        before,
        user_facts(user),
    )
    session.commit()
    return user


def reset_password(
    session: Session, actor: Actor, ref: int | str, password: str | None = None
) -> NewAccount:
    """Set a password its user must change at next sign-in; one-time when not given.

    Every session and refresh token of the account ends: whoever held the old
    password must not keep a way in.
    """
    begin_write(session)
    user = _user(session, ref)
    _refuse_if_own_account(actor, user, "password", "reset your own password (change it instead)")
    if password is not None:
        password_policy.check(password, user.username)
    secret = password if password is not None else one_time_password()
    before = user_facts(user)
    user.password_hash = hash_password(secret)
    user.must_change_password = True
    user.password_changed_at = clock.now()
    end_access(session, user)
    _record(session, actor, "user.reset_password", user, before, user_facts(user))
    session.commit()
    return NewAccount(user, None if password is not None else secret)


def change_own_password(
    session: Session, principal: Principal, current_password: str, new_password: str
) -> User:
    """The signed-in user replaces their password, proving the current one."""
    begin_write(session)
    user = get_user(session, principal.user_id)
    if not verify_password(user.password_hash, current_password):
        raise Refusal(
            "wrong_password",
            "the current password is wrong",
            field="current_password",
            errors={"current_password": ["the current password is wrong"]},
        )
    password_policy.check(new_password, user.username, field="new_password")
    if verify_password(user.password_hash, new_password):
        raise Refusal(
            "weak_password",
            "choose a password other than the current one",
            field="new_password",
            errors={"new_password": ["choose a password other than the current one"]},
        )
    before = user_facts(user)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = clock.now()
    _record(session, Actor.of(principal), "user.change_password", user, before, user_facts(user))
    session.commit()
    return user


def end_access(session: Session, user: User) -> None:
    """End every console session and revoke every refresh token of ``user`` (not
    committed). Access tokens need nothing: the guard reads the account each request."""
    now = clock.now()
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _refuse_if_own_account(actor: Actor, user: User, field: str, what: str) -> None:
    # Locking oneself out by a slip is never what an admin means; another admin (or the
    # operator) does it, and one's own password is changed with the current one.
    if actor.user_id is not None and actor.user_id == user.id:
        message = f"you cannot {what}"
        raise Refusal("own_account", message, field=field, errors={field: [message]})


def _refuse_if_last_admin(session: Session, user: User, field: str, verb: str) -> None:
    # Counted under the write lock begin_write took, so two admins demoting each other
    # at once cannot both pass on SQLite; on PostgreSQL the admins' rows are locked.
    admins = session.scalars(
        select(User.id)
        .where(User.org_id == user.org_id, User.role == Role.ADMIN, User.is_active.is_(True))
        .with_for_update()
    ).all()
    if set(admins) <= {user.id}:
        message = f"{user.username} is the organization's last active admin and cannot be {verb}"
        raise Refusal("last_admin", message, field=field, errors={field: [message]})


def user_dict(user: User) -> dict[str, Any]:
    """An account as the API and the console show it."""
    return {
        "id": user.id,
        **user_facts(user),
        "password_changed_at": utc_text(user.password_changed_at),
        "created_at": utc_text(user.created_at),
    }


def account_dict(account: NewAccount) -> dict[str, Any]:
    return {"user": user_dict(account.user), "one_time_password": account.one_time_password}
