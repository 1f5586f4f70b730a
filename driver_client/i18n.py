"""Every word the driver reads comes through one gettext catalogue.

``_("text")`` translates a sentence of the app (its English text is the key), and
``label(kind, code)`` gives a protocol code its human name: ``label("where_left",
"handed_to_recipient")`` is "Handed to the recipient". A code's kind is gettext's
context (``msgctxt``), so the same word in two sets ("other") can read differently.

The catalogue is ``locale/<language>/LC_MESSAGES/doorstep.po``; the app reads the
compiled ``doorstep.mo`` beside it, which is checked in (the phone has no msgfmt)
and rebuilt with ``python -m driver_client.i18n`` after editing a ``.po``; a test
fails when a ``.mo`` differs from what its ``.po`` compiles to. English always backs the driver's
own language, so a missing translation shows English, never a raw code.
"""

from __future__ import annotations

import ast
import functools
import gettext
import os
import struct
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "doorstep"
FALLBACK_LANGUAGE = "en"
# gettext's own order of the variables that name the user's languages.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

# The kinds of code the driver may see; each is a msgctxt in the catalogue.
WHERE_LEFT = "where_left"
FAILURE_REASON = "failure_reason"
STOP_STATUS = "stop_status"
CONFLICT_KIND = "conflict_kind"
EVENT_TYPE = "event_type"
EVIDENCE_KIND = "evidence_kind"
RESULT_STATUS = "result_status"
REJECTION = "rejection"  # a rejected capture's result code


def preferred_languages() -> list[str]:
    for variable in LANGUAGE_VARIABLES:
        value = os.environ.get(variable, "")
        if value:
            names = [part.split(".")[0] for part in value.split(":") if part]
            # gettext reads "C" as "no translation" and drops every language after it.
            return [*(n for n in names if n not in ("C", "POSIX")), FALLBACK_LANGUAGE]
    return [FALLBACK_LANGUAGE]


def load(languages: list[str] | None = None) -> gettext.NullTranslations:
    """The catalogue for ``languages`` (the environment's by default), English behind."""
    chosen = languages or preferred_languages()
    chosen = [n for n in chosen if n not in ("C", "POSIX")]
    if FALLBACK_LANGUAGE not in chosen:
        chosen = [*chosen, FALLBACK_LANGUAGE]
    # No fallback to NullTranslations: without the English catalogue the app would show
    # raw codes, and that must fail at start, not at the door.
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=chosen)


@functools.cache
def _catalogue() -> gettext.NullTranslations:
    return load()


def _(message: str) -> str:
    return _catalogue().gettext(message)


def label(kind: str, code: str) -> str:
    """The human name of ``code`` among the codes of ``kind`` (e.g. a where-left code)."""
    return _catalogue().pgettext(kind, code)


def rejection(code: str) -> str:
    """Why the server refused a capture; a code newer than this app reads generically."""
    reason = label(REJECTION, code)
    return _("the server refused it") if reason == code else reason


# -- building the .mo ---------------------------------------------------------------


def parse_po(text: str) -> dict[str, str]:
    """The entries of a ``.po`` file as .mo keys (``ctxt\\x04id``) to translations.

    Enough of the format for a hand-kept catalogue: comments, ``msgctxt``, ``msgid``,
    ``msgstr`` and strings continued on following lines; no plurals.
    """
    entries: dict[str, str] = {}
    current: dict[str, str] = {}
    field = ""

    def finish() -> None:
        if "msgid" in current:
            key = current["msgid"]
            if "msgctxt" in current:
                key = f"{current['msgctxt']}\x04{key}"
            entries[key] = current.get("msgstr", "")
        current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            current[field] += ast.literal_eval(line)
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword == "msgctxt" or (keyword == "msgid" and "msgid" in current):
            finish()
        field = keyword
        current[field] = ast.literal_eval(rest)
    finish()
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """GNU .mo bytes for ``entries`` (keys sorted, no hash table), as msgfmt writes."""
    keys = sorted(entries)
    ids = [k.encode() for k in keys]
    strs = [entries[k].encode() for k in keys]
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + 8 * len(keys)
    data_start = strs_table + 8 * len(keys)
    offsets: list[tuple[int, int]] = []
    blob = b""
    for item in ids + strs:
        offsets.append((len(item), data_start + len(blob)))
        blob += item + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, len(keys), ids_table, strs_table, 0, data_start)
    table = b"".join(struct.pack("<2I", length, at) for length, at in offsets)
    return head + table + blob


def catalogues() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def main() -> None:
    for po in catalogues():
        po.with_suffix(".mo").write_bytes(compile_mo(parse_po(po.read_text(encoding="utf-8"))))
        print(f"compiled {po.with_suffix('.mo')}")


if __name__ == "__main__":
    main()
