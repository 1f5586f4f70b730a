"""The console in a real browser (Debian's Chromium through Playwright) over a simulated
day: a dispatcher clears the exception queue; a support agent finds a delivery, settles
a dispute with its evidence and downloads a PDF that verifies."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backend.cli import main as doorstep
from tests.console.helpers import api_get, api_token, login

Shot = Callable[..., Path]


def _open_exceptions(base: str, day: date) -> int:
    token = api_token(base, "dispatch")
    queue = api_get(base, f"/api/v1/reconciliation?date={day}&open_only=true", token)
    count: int = queue["open_exceptions"]
    return count


def _chip_kinds(page: Page) -> list[str]:
    return [
        kind
        for kind in page.locator("nav.chips a[data-kind]").evaluate_all(
            "chips => chips.map(c => c.dataset.kind)"
        )
        if kind
    ]


def _decide_all_shown(page: Page, decision: str, note: str) -> None:
    page.check('input[name="scope"][value="all"]')
    page.select_option('select[name="decision"]', decision)
    page.fill('input[name="note"]', note)
    page.click("#queue-form button[type=submit]")


def test_a_dispatcher_clears_the_days_exception_queue(
    page: Page, console_url: str, console_date: date, screenshot: Shot
) -> None:
    assert _open_exceptions(console_url, console_date) > 0
    login(page, console_url, "dispatch")
    expect(page.locator("h1")).to_contain_text("Progress on")
    expect(page.locator("[data-testid=open-total]")).not_to_have_text("0")
    screenshot(page, "day")

    page.click("nav[aria-label=Main] >> text=Exceptions")
    expect(page.locator("h1")).to_contain_text("Exceptions on")
    screenshot(page, "exceptions", full_page=False)

    # The few unusual exceptions first, one kind at a time, the way a person reads them:
    # tick the rows, accept with a note.
    for kind in [k for k in _chip_kinds(page) if k != "no_outcome"]:
        page.click(f'nav.chips a[data-kind="{kind}"]')
        page.check("input[data-select-all]")
        shown = page.locator('input[name="items"]').count()
        expect(page.locator("[data-selected-count]")).to_have_text(str(shown))
        page.select_option('select[name="decision"]', "accept")
        page.fill('input[name="note"]', f"checked {kind.replace('_', ' ')} with the driver")
        page.click("#queue-form button[type=submit]")
        expect(page.locator(".flash.success")).to_contain_text("Accepted")

    # Then the stops nobody reached: all of them, rejected (re-planned for tomorrow),
    # after the confirmation page.
    page.click('nav.chips a[data-kind="no_outcome"]')
    _decide_all_shown(page, "reject", "not reached today: roll over to tomorrow")
    expect(page.locator("[data-testid=confirm-reject]")).to_be_visible()
    screenshot(page, "confirm-reject")
    page.click("text=Yes, reject and re-plan")
    expect(page.locator(".flash.success")).to_contain_text("re-planned for the next day")

    page.click("nav.chips >> text=All")
    expect(page.locator("[data-testid=queue-empty]")).to_contain_text("Nothing left to review")
    screenshot(page, "queue-cleared")
    assert _open_exceptions(console_url, console_date) == 0

    page.click("nav[aria-label=Main] >> text=Summary")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    csv = Path(download.value.path()).read_text()
    assert csv.splitlines()[0].startswith("depot,driver,stops,delivered")
    assert re.search(r"^\*,\*,\d+,", csv, re.MULTILINE)
    # The promise's last 30 days: three charts the server drew, the day's point on each
    # rate chart (the simulated day delivered and failed stops inside their windows).
    charts = page.locator("figure.chart svg")
    expect(charts).to_have_count(3)
    expect(charts.first).to_be_visible()
    assert charts.nth(0).locator("circle").count() >= 1
    assert charts.nth(1).locator("circle").count() >= 1
    screenshot(page, "summary")


def _disputable_stop(base: str, day: date) -> dict[str, Any]:
    """A delivered stop whose proof is complete and meets its policy, with a photo."""
    token = api_token(base, "support")
    day_view = api_get(base, f"/api/v1/reconciliation?date={day}", api_token(base, "dispatch"))
    for stop in day_view["stops"]:
        if stop["status"] != "delivered" or not stop["proof_meets_policy"]:
            continue
        bundle = api_get(base, f"/api/v1/stops/{stop['stop_id']}/proof", token)
        kinds = {f["kind"] for f in bundle["proof"]["files"]}
        if {"signature", "photo"} <= kinds and not bundle["conflicts"]:
            return stop
    pytest.fail("the simulated day has no complete delivery to dispute")


def _image_loaded(page: Page, selector: str) -> bool:
    loaded: bool = page.locator(selector).first.evaluate(
        "img => img.complete && img.naturalWidth > 0"
    )
    return loaded


def test_a_support_agent_settles_a_dispute_and_hands_over_a_pdf_that_verifies(
    page: Page,
    console_url: str,
    console_date: date,
    screenshot: Shot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = _disputable_stop(console_url, console_date)
    login(page, console_url, "support")
    page.fill('input[name="q"]', stop["order_number"])
    page.click("form.search button[type=submit]")
    expect(page.locator("table[aria-label='Search results']")).to_contain_text(stop["order_number"])
    screenshot(page, "search")
    page.click(f"text={stop['order_number']}")

    expect(page.locator("[data-testid=verification]")).to_contain_text("The proof verifies")
    assert _image_loaded(page, "img.signature")
    assert _image_loaded(page, "img.photo")
    assert _image_loaded(page, "img.map")
    expect(page.locator("[data-testid=geo-check]")).to_contain_text("m from the stop")
    expect(page.locator("[data-testid=timeline]")).to_contain_text("Proof sealed")
    digest = page.locator("[data-testid=digest]").inner_text()
    screenshot(page, "evidence")

    form = page.locator("[data-testid=open-dispute]")
    form.locator('select[name="reason"]').select_option("not_received")
    form.locator('textarea[name="note"]').fill("Customer says the parcel never arrived.")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash.success")).to_contain_text("legal hold")
    page.fill('input[name="text"]', "Photo shows the parcel at the door; called the customer.")
    page.click("text=Add note")
    expect(page.locator("ul.notes")).to_contain_text("called the customer")

    resolve = page.locator("[data-testid=resolve-form]")
    resolve.locator('input[name="outcome"][value="rejected"]').check()
    for cited in resolve.locator('input[name="evidence_cited"]').all():
        value = cited.get_attribute("value") or ""
        if value.startswith(("photo:", "signature:")) or value == "geo":
            cited.check()
    resolve.locator('textarea[name="reason"]').fill(
        "The photo and signature show the parcel handed over at the address."
    )
    screenshot(page, "dispute-open")
    resolve.locator('input[name="confirm"]').check()
    resolve.locator("button[type=submit]").click()
    expect(page.locator(".flash.success")).to_contain_text("settled: rejected")
    expect(page.locator("article.dispute")).to_have_attribute("data-status", "rejected")
    screenshot(page, "dispute-settled")

    with page.expect_download() as download:
        page.click("[data-testid=download-pdf]")
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    keys = tmp_path / "keys.json"
    keys.write_text(page.request.get(f"{console_url}/api/v1/receipt-keys").text())
    capsys.readouterr()
    assert doorstep(["verify", str(pdf), "--keys", str(keys)]) == 0
    assert f"OK: proof {digest} verifies" in capsys.readouterr().out
