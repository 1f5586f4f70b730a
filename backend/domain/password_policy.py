"""What a password must be: the one policy every way of setting one goes through.

At least :data:`MIN_LENGTH` characters (NIST SP 800-63B: length, not composition
rules), not one of the 20,000 common passwords in ``data/common-passwords.txt.gz``
(the list Django ships, see ``data/common-passwords.LICENSE``; checked here, never by
asking an outside service), and neither the username nor a password that contains it.
Comparisons ignore case and surrounding spaces, as a guesser would.

:func:`problems` returns every reason at once, so a form can show them all;
:func:`check` raises the refusal the services use (code ``weak_password``).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from backend.domain.refusal import Refusal

MIN_LENGTH = 12
MAX_LENGTH = 1024  # the login form's limit: a longer one could never be typed in
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased, read once per process."""
    data = resources.files("backend.domain").joinpath("data", COMMON_PASSWORDS_FILE)
    text = gzip.decompress(data.read_bytes()).decode()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def problems(password: str, username: str = "") -> list[str]:
    """Every reason ``password`` may not be used by ``username``; empty when it may."""
    found: list[str] = []
    if len(password) < MIN_LENGTH:
        found.append(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        found.append(f"use at most {MAX_LENGTH} characters")
    folded = password.strip().lower()
    if folded in common_passwords():
        found.append("this is one of the most common passwords; choose another")
    name = username.strip().lower()
    if name and name in folded:
        found.append("the password must not contain the username")
    return found


def check(password: str, username: str = "", field: str = "password") -> None:
    """Refuse ``password`` (``weak_password``, on ``field``) unless the policy allows it."""
    found = problems(password, username)
    if found:
        raise Refusal("weak_password", "; ".join(found), field=field, errors={field: found})
