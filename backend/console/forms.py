"""Console forms, validated by marshmallow schemas like the API's bodies.

A form that fails validation is shown again with each field's message and status 422,
so the person sees what to fix and a script sees the same status an API call would get.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from backend.domain import untrusted


class FormInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("the form has invalid fields")
        self.errors = errors


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # An item of a list field ("items": {0: [...]}) is reported on the field.
            if isinstance(key, int):
                name = prefix or "_form"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_form"] = list(messages)
    else:
        flat[prefix or "_form"] = [str(messages)]
    return flat


def parse_form(
    schema: Schema, form: MultiDict[str, str], lists: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Load ``form`` with ``schema``; ``lists`` name the fields sent as repeated keys.

    Empty strings count as absent, as a browser sends every field of a form. Anything
    the schema does not know (the CSRF token, the submit button) is ignored.
    """
    raw: dict[str, Any] = {}
    for key in form:
        if key in lists:
            raw[key] = [v for v in form.getlist(key) if v != ""]
        elif key in schema.fields and form.get(key, "") != "":
            raw[key] = form[key]
    try:
        loaded: dict[str, Any] = schema.load(raw, unknown="exclude")
    except ValidationError as exc:
        raise FormInvalid(flatten_messages(exc.messages)) from exc
    # As for the API's query strings (backend.http.StrictParser): digits become an
    # integer only here, and one beyond 64 bits would overflow in the database.
    problems = untrusted.find_problems(loaded, check_nul=False)
    if problems:
        raise FormInvalid({p.path: [p.message] for p in problems})
    return loaded
