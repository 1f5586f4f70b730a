"""The commands in README.md and docs/ are run, so the documentation cannot drift.

Every fenced block in those files names its language, and every shell block (``sh``,
``bash``, ``shell``, ``console``) says in its info string whether it is run:

- ```` ```sh run ````: executed here, against a fresh demo server.
- ```` ```sh no-run: <why> ````: shown to the reader, never executed (it needs root, a
  PostgreSQL server, serves until Ctrl-C, or holds placeholders); the reason is required.
- ```` ```text output ````, right after a ``run`` block: what that block prints. Each
  of its lines must match a line of the block's standard output, in order (other output
  lines may come between); ``...`` inside a line matches any text, and a line that is
  only ``...`` marks an elision and matches nothing.

GitHub and other renderers read only the first word of the info string, so the marks
never show. The ``run`` blocks of one document are run in order by one ``bash -eu``
(so a variable one block sets, such as ``$TOKEN``, is there in the next), in a
temporary folder holding a ``.venv`` link to this interpreter's environment, against
a server of the test's own on a fresh SQLite database seeded with the demo. What a
reader's machine has and the test's does not is rewritten by ``SUBSTITUTIONS``.

Commands written inline in a paragraph are not run; put a command a reader should be
able to copy into a fenced block.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.app import create_app
from backend.cli import migrate
from backend.config import PROJECT_ROOT, ConfigError, Settings, load_settings
from backend.db.session import Database
from backend.domain.clock import SystemClock

# The one import of the demo seed (it is moving to the top-level demo/ package).
from demo.seed import seed_demo
from tests.client.conftest import LiveServer

DOCUMENTS = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
DOCUMENTED_SERVER = "http://127.0.0.1:8000"
# Seconds one document's commands may take together; they take a few.
DOCUMENT_TIMEOUT_S = 45

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    language: str
    mark: str  # the info string after the language
    text: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(PROJECT_ROOT)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    @property
    def runs(self) -> bool:
        return self.is_shell and self.mark == "run"

    @property
    def is_output(self) -> bool:
        return self.language == "text" and self.mark == "output"


def fenced_blocks(document: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, in order."""
    blocks = []
    lines = document.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language, _, mark = opening["info"].strip().partition(" ")
        body = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        start = index - len(body)
        blocks.append(Block(document, start, language, mark.strip(), "\n".join(body) + "\n"))
        index += 1
    return blocks


def runnable(document: Path) -> list[tuple[Block, Block | None]]:
    """The document's ``run`` blocks, each with the ``output`` block that follows it."""
    blocks = fenced_blocks(document)
    return [
        (block, after if after is not None and after.is_output else None)
        for block, after in zip(blocks, [*blocks[1:], None], strict=True)
        if block.runs
    ]


# --- the marks themselves -----------------------------------------------------------


def test_every_fenced_block_names_its_language() -> None:
    unnamed = [
        block.where for doc in DOCUMENTS for block in fenced_blocks(doc) if not block.language
    ]
    assert unnamed == [], "give these blocks a language (`text` for a diagram):\n" + "\n".join(
        unnamed
    )


def test_every_shell_block_is_run_or_says_why_not() -> None:
    unmarked = [
        f"{block.where}: ```{block.language} {block.mark}".rstrip()
        for doc in DOCUMENTS
        for block in fenced_blocks(doc)
        if block.is_shell and block.mark != "run" and not re.fullmatch(r"no-run: \S.*", block.mark)
    ]
    assert unmarked == [], (
        "mark each shell block `run` or `no-run: <why>` (tests/test_docs_commands.py):\n"
        + "\n".join(unmarked)
    )


def test_every_output_block_follows_a_block_that_runs() -> None:
    orphans = []
    for doc in DOCUMENTS:
        blocks = fenced_blocks(doc)
        for before, block in zip([None, *blocks], blocks, strict=False):
            if block.is_output and (before is None or not before.runs):
                orphans.append(block.where)
    assert orphans == [], "an output block must follow a `run` block:\n" + "\n".join(orphans)


def test_the_marks_are_read_as_written(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "```sh run\necho hi\n```\n\n```text output\nh...\n```\n\n"
        "1. Step:\n\n   ```sh no-run: needs root\n   apt-get install x\n   ```\n\n"
        "```\nunnamed\n```\n"
    )
    blocks = fenced_blocks(sample)
    assert [(b.language, b.mark, b.text) for b in blocks] == [
        ("sh", "run", "echo hi\n"),
        ("text", "output", "h...\n"),
        ("sh", "no-run: needs root", "apt-get install x\n"),
        ("", "", "unnamed\n"),
    ]
    assert [b.line for b in blocks] == [1, 5, 11, 15]
    [(run, output)] = runnable(sample)
    assert run.text == "echo hi\n"
    assert output is not None
    assert output.text == "h...\n"


# --- documented output --------------------------------------------------------------


def output_mismatch(expected: str, actual: str) -> str | None:
    """None when every documented line matches an output line, in order; else which
    documented line was not found."""
    lines = iter(actual.splitlines())
    for wanted in expected.splitlines():
        if wanted.strip() in ("", "..."):
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.strip().split("...")))
        if not any(pattern.fullmatch(line.strip()) for line in lines):
            return wanted
    return None


def test_documented_output_matches_in_order_with_elisions() -> None:
    actual = 'HTTP/1.1 200 OK\nServer: x\nETag: W/"m1.r1"\nOK: proof 9f2 verifies\n'
    assert output_mismatch('HTTP/1.1 200 OK\n...\nETag: W/"m1.r1"\n', actual) is None
    assert output_mismatch("OK: proof ... verifies\n", actual) is None
    assert output_mismatch('ETag: W/"m1.r1"\nHTTP/1.1 200 OK\n', actual) == "HTTP/1.1 200 OK"
    assert output_mismatch("HTTP/1.1 304 NOT MODIFIED\n", actual) == "HTTP/1.1 304 NOT MODIFIED"
    assert output_mismatch("OK: proof\n", actual) == "OK: proof"


# --- running them -------------------------------------------------------------------


@dataclass(frozen=True)
class DocServer:
    url: str
    settings: Settings


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[DocServer]:
    """What `make run` serves: a fresh SQLite database with the demo seeded for today.

    The server keeps the system clock, as `make run` does: the documented commands run
    as separate processes (curl, the driver client) that read the machine's clock too.
    """
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{tmp_path / 'doorstep.db'}",
        storage_dir=tmp_path / "evidence",
        secrets_dir=tmp_path / "secrets",
    )
    migrate(settings)
    database = Database(settings.database_url)
    with database.session() as session:
        seed_demo(session, settings)
    server = LiveServer(create_app(settings, database, SystemClock()))
    server.start()
    try:
        yield DocServer(server.url, settings)
    finally:
        server.stop()
        database.dispose()


def substitutions(url: str, folder: Path) -> list[tuple[str, str]]:
    """What a reader has and the test replaces: `make run`'s address (and the driver
    client's default server, which the documented commands leave implicit) and a folder
    in /tmp that other runs on this machine may share."""
    return [
        (DOCUMENTED_SERVER, url),
        ("-m driver_client ", f"-m driver_client --server {url} "),
        ("/tmp/phone", str(folder / "phone")),  # noqa: S108 - replaced, never used
    ]


def script_for(blocks: list[tuple[Block, Block | None]], url: str, folder: Path) -> str:
    parts = ["set -eu"]
    for number, (block, _) in enumerate(blocks):
        text = block.text
        for documented, local in substitutions(url, folder):
            text = text.replace(documented, local)
        parts += [f"printf '\\n@@block {number}@@\\n'", text]
    return "\n".join(parts) + "\n"


def documents_that_run() -> list[Path]:
    return [doc for doc in DOCUMENTS if runnable(doc)]


@pytest.mark.parametrize(
    "document", documents_that_run(), ids=lambda doc: str(doc.relative_to(PROJECT_ROOT))
)
def test_the_documented_commands_run_as_written(
    document: Path, demo_server: DocServer, tmp_path: Path
) -> None:
    blocks = runnable(document)
    workdir = tmp_path / "reader"
    workdir.mkdir()
    # The documented `.venv/bin/...` paths, relative to a checkout, in a folder of our own.
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    settings = demo_server.settings
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "DATABASE_URL": settings.database_url,
        "DOORSTEP_STORAGE_DIR": str(settings.storage_dir),
        "DOORSTEP_SECRETS_DIR": str(settings.secrets_dir),
    }
    shell = subprocess.Popen(  # noqa: S603 - the documentation's own commands
        ["bash", "-c", script_for(blocks, demo_server.url, workdir)],  # noqa: S607
        cwd=workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a timeout ends curl too
    )
    try:
        stdout, stderr = shell.communicate(timeout=DOCUMENT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)
        stdout, stderr = shell.communicate()
        pytest.fail(
            f"{document.name}'s commands took over {DOCUMENT_TIMEOUT_S} s:\n{stdout[-3000:]}"
        )
    result = subprocess.CompletedProcess(shell.args, shell.returncode, stdout, stderr)
    outputs = re.split(r"^@@block (\d+)@@$\n?", result.stdout, flags=re.MULTILINE)
    printed = dict(zip(map(int, outputs[1::2]), outputs[2::2], strict=True))
    if result.returncode != 0:
        failed, _ = blocks[max(printed, default=0)]
        pytest.fail(
            f"a command in {failed.where} failed (exit {result.returncode}):\n"
            f"{failed.text}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
    for number, (block, output) in enumerate(blocks):
        if output is None:
            continue
        missing = output_mismatch(output.text, printed.get(number, ""))
        assert missing is None, (
            f"{output.where}: the documented output line {missing!r} is not in what "
            f"{block.where} printed:\n{printed.get(number, '')[-4000:]}"
        )


# --- what cannot run here is still checked ------------------------------------------


def test_the_production_example_configures_everything_production_requires(
    tmp_path: Path,
) -> None:
    """docs/operations.md's example cannot reach its PostgreSQL server from a test, but
    the environment it exports must be one production mode accepts."""
    [example] = [
        block
        for block in fenced_blocks(PROJECT_ROOT / "docs" / "operations.md")
        if block.is_shell and "export DOORSTEP_ENV=production" in block.text
    ]
    exports = "\n".join(line for line in example.text.splitlines() if line.startswith("export "))
    result = subprocess.run(  # noqa: S603 - the documentation's own exports
        ["bash", "-euc", exports + "\nenv -0"],  # noqa: S607
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    environ = dict(entry.split("=", 1) for entry in result.stdout.split("\0") if "=" in entry)
    settings = load_settings(environ)
    try:
        settings.check_safe_for_production()
    except ConfigError as exc:
        pytest.fail(f"{example.where}: {exc}")
    assert settings.is_production
