"""What no parsed JSON value may hold, whichever field it is in.

Python's JSON parser accepts things no database or later step can handle: a lone
UTF-16 surrogate (``"\\ud800"`` is valid JSON, and truncated emoji produce it) cannot
be encoded to UTF-8, so it fails at the INSERT; an integer beyond 64 bits overflows
every integer column; NUL cannot be stored in PostgreSQL text; and deeply nested
arrays make recursive code (ours, marshmallow's, the encoder's) hit Python's recursion
limit. :func:`find_problems` names every such spot in one iterative walk, so the door
check (backend.http) and the per-event check of a sync batch (backend.domain.events)
apply the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Deeper than any body the API documents (a sync event is about five levels), far
# below the depth at which recursive code would fail.
MAX_DEPTH = 64
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

NUL = "nul_character"
INVALID_UNICODE = "invalid_unicode"
INTEGER_OUT_OF_RANGE = "integer_out_of_range"
JSON_TOO_DEEP = "json_too_deep"

MESSAGES = {
    NUL: "contains a NUL character",
    INVALID_UNICODE: "is not valid Unicode (a lone UTF-16 surrogate)",
    INTEGER_OUT_OF_RANGE: "is an integer beyond 64 bits",
    JSON_TOO_DEEP: f"nests deeper than {MAX_DEPTH} levels",
}


@dataclass(frozen=True)
class Problem:
    path: str  # "a.0.b", or "_body" for the value itself
    code: str

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


def is_valid_unicode(text: str) -> bool:
    """False if ``text`` holds a lone surrogate, which UTF-8 cannot encode."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(text: str, check_nul: bool = True) -> str | None:
    """The problem code for one string (a key or a value), or None."""
    if check_nul and "\x00" in text:
        return NUL
    if not is_valid_unicode(text):
        return INVALID_UNICODE
    return None


def find_problems(value: Any, check_nul: bool = True, max_depth: int = MAX_DEPTH) -> list[Problem]:
    """Every spot in a parsed JSON ``value`` that breaks the rules above, in order.

    Iterative, so a value nested as deep as the parser allowed cannot exhaust the stack.
    ``check_nul=False`` leaves NUL to the caller (sync events reject it per field).
    """
    if _is_clean(value, check_nul, max_depth):
        # Nearly every value is: one walk that builds no paths says so (every event of
        # a sync batch passes here), and only a value with a problem is walked again
        # to name where.
        return []
    found: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            code = text_problem(item, check_nul)
            if code:
                found.append(Problem(path or "_body", code))
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                found.append(Problem(path or "_body", INTEGER_OUT_OF_RANGE))
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                found.append(Problem(path or "_body", JSON_TOO_DEEP))
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            children = []
            for key, child in pairs:
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    code = text_problem(key, check_nul)
                    if code:
                        # The key itself is unprintable, so name it by its parent.
                        found.append(Problem(path or "_body", code))
                        continue
                children.append((child, where, depth + 1))
            stack.extend(reversed(children))
    return found


def _is_clean(value: Any, check_nul: bool, max_depth: int) -> bool:
    """True if :func:`find_problems` would find nothing: the same rules, no paths."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if (check_nul and "\x00" in item) or not is_valid_unicode(item):
                return False
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return False
        elif isinstance(item, dict):
            if depth >= max_depth:
                return False
            for key, child in item.items():
                if isinstance(key, str) and (
                    (check_nul and "\x00" in key) or not is_valid_unicode(key)
                ):
                    return False
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                return False
            stack.extend((child, depth + 1) for child in item)
    return True
