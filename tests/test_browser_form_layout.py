"""In headless Chromium: each form field keeps its own box (no drop-down over its neighbour, no error cell)."""
from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def _boxes(page, selector: str) -> list[dict]:
    return [element.bounding_box() for element in page.locator(selector).all()]


def _assert_apart(boxes: list[dict]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), (a, b)


@pytest.mark.parametrize("width", [1280, 900, 700])
def test_the_diagnostic_category_does_not_cover_the_gold_coast_choice(page, coordinator, study, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, coordinator.username)
    page.goto(f"/studies/{study.pk}/patients/new/")
    page.select_option("#id_diagnostic_category", "pls_probable")  # the longest label
    category, gold_coast = page.locator("#id_diagnostic_category"), page.locator("#id_gold_coast")
    expect(gold_coast).to_be_visible()
    assert not _overlap(category.bounding_box(), gold_coast.bounding_box())
    _assert_apart(_boxes(page, "form .cols > .field select, form .cols > .field input"))
    screenshot(page, f"patient-form-{width}")


def test_an_upload_error_stays_in_its_fields_cell(page, coordinator, patient):
    log_in(page, coordinator.username)
    page.goto(f"/studies/{patient.study_id}/patients/{patient.pk}/scans/new/")
    cells_before = page.locator("#upload-form .cols > *").count()
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    page.fill("#id_scan_date", tomorrow)
    page.evaluate("document.getElementById('upload-form').submit()")  # the plain form post, without upload.js
    error = page.locator("#upload-form .cols .errorlist")
    expect(error).to_contain_text("The scan date is in the future.")
    assert page.locator("#upload-form .cols > *").count() == cells_before  # no grid cell of its own
    cell = page.locator("#upload-form .cols > .field", has=page.locator("#id_scan_date"))
    expect(cell.locator(".errorlist")).to_contain_text("in the future")
    cell_box, error_box = cell.bounding_box(), error.bounding_box()
    assert cell_box["x"] <= error_box["x"] and error_box["x"] + error_box["width"] <= cell_box["x"] + cell_box["width"]
    _assert_apart(_boxes(page, "#upload-form .cols > .field"))
    screenshot(page, "upload-form-error")
