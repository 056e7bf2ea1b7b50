"""In headless Chromium: export a selection from the study page, follow the job's progress to its download
link, and import the zip into another study through its job page."""
import zipfile

import pytest
from playwright.sync_api import expect

from clinical.models import Role, Study
import exchange.tasks  # noqa: F401  registers the jobs that run_jobs runs by name
from exchange import transfers
from exchange.models import Transfer
from tests.conftest import log_in, screenshot
from tests.exchange.conftest import run_jobs
from tests.exchange.study_data import DESIGN, build_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_exports_pls_patients_and_imports_them_elsewhere(page, coordinator, study, tmp_path):
    build_study(study, design=DESIGN, scans=False)
    target = Study.objects.create(name="Second site")
    target.add_member(coordinator, Role.COORDINATOR)
    log_in(page, coordinator.username)
    page.get_by_role("link", name=study.name).click()
    page.get_by_role("link", name="BIDS export / import").click()
    page.select_option("select[name=diagnosis]", ["PLS"])
    page.get_by_role("button", name="Export BIDS zip").click()
    page.wait_for_selector("text=It waits for a worker")

    # A worker takes the job and reports its progress; the page follows it without a reload.
    held = transfers.claim(Transfer.objects.get(study=study).pk)
    progress = transfers.Progress(held)
    progress.start()
    try:
        progress("writing scans", 0.4)
        expect(page.locator("#transfer-progress")).to_have_js_property("value", 40)
        expect(page.locator("#transfer-stage")).to_have_text("writing scans", use_inner_text=True)
        expect(page.locator("#transfer-waiting")).to_be_hidden()
        expect(page.locator("#download-link")).to_be_hidden()
        screenshot(page, "bids-export-progress")
        assert transfers.run(held, progress) == "succeeded"
    finally:
        progress.stopped.set()
    expect(page.locator("#download-link")).to_be_visible()
    expect(page.locator("#transfer-state")).to_have_text("succeeded", use_inner_text=True)
    screenshot(page, "bids-export-ready")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download motor-cortex-qsm-bids.zip").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        participants = zf.read("motor-cortex-qsm-bids/participants.tsv").decode()
    assert [line.split("\t")[1] for line in participants.splitlines()[1:]] == ["PLS-01", "PLS-02"]

    page.goto(f"/studies/{target.pk}/bids/")
    page.get_by_role("link", name="Import a BIDS dataset into this study").click()
    page.set_input_files("#id_file", str(archive))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("text=It waits for a worker")
    assert run_jobs() == ["succeeded"]
    page.wait_for_selector("text=Imported motor-cortex-qsm-bids.zip: 2 patients, 4 exams")
    screenshot(page, "bids-imported")
    assert sorted(target.patients.values_list("code", flat=True)) == ["PLS-01", "PLS-02"]
