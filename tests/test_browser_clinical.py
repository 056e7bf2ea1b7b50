"""In headless Chromium: log in, create a patient and an exam through the forms, see the derived signs."""
import re

import pytest
from playwright.sync_api import expect

from clinical.models import Patient
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_records_a_patient_and_an_exam(page, coordinator, study):
    log_in(page, coordinator.username)
    page.get_by_role("link", name=study.name).click()
    page.get_by_role("link", name="New patient").click()
    page.fill("#id_code", "PLS-101")
    page.select_option("#id_diagnosis", "PLS")
    page.fill("#id_onset_month", "2019-06")
    page.select_option("#id_diagnostic_category", "pls_definite")
    screenshot(page, "clinical-patient-form")
    page.get_by_role("button", name="Save patient").click()
    page.wait_for_selector("text=Patient PLS-101 created.")

    page.get_by_role("link", name="New exam").click()
    page.fill("#id_date", "2024-04-02")
    page.fill("#id_examiner", "Dr Playwright")
    page.select_option("#id_reflex_patellar_left", "3")
    page.select_option("#id_reflex_patellar_right", "2")
    page.select_option("#id_mas_lower_right", "1+")
    page.select_option("#id_mas_lower_left", "0")
    for item in range(1, 13):
        page.select_option(f"#id_alsfrs_{item}", "3")
    screenshot(page, "clinical-exam-form")
    page.get_by_role("button", name="Save exam").click()

    row = page.locator("#exams tr.exam").first
    expect(row).to_contain_text("2024-04-02", use_inner_text=True)
    expect(row.locator("td.spasticity")).to_have_text(re.compile(r"^\s*present"), use_inner_text=True)
    expect(row.locator("td.spasticity")).to_contain_text("(absent / present)", use_inner_text=True)
    expect(row.locator("td.hyperreflexia")).to_contain_text("(present / absent)", use_inner_text=True)
    expect(row).to_contain_text("36 (9/9/9/9)", use_inner_text=True)
    # Who, what and which action, in adjacent cells of one audit row.
    expect(page.locator("#audit")).to_contain_text(re.compile(r"alice\texam 2024-04-02\tCreated"), use_inner_text=True)
    screenshot(page, "clinical-patient-page")
    assert Patient.objects.get(code="PLS-101").exams.get().spasticity_right is True


def test_the_form_shows_errors_next_to_the_field(page, coordinator, study):
    log_in(page, coordinator.username)
    page.goto(f"/studies/{study.pk}/patients/new/")
    page.fill("#id_code", "Jane Doe")
    page.select_option("#id_diagnosis", "ALS")
    page.get_by_role("button", name="Save patient").click()
    expect(page.locator(".errorlist").first).to_contain_text("pseudonymous study code", use_inner_text=True)
    assert not Patient.objects.exists()
