"""In headless Chromium: the upload page sends the chosen files with tus, then submits only their ids."""
import hashlib
import json
import os

import pytest

from clinical.tus import TusUpload
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_page_sends_files_with_tus_and_submits_their_ids(page, coordinator, patient, media, tmp_path):
    chosen = tmp_path / "exam.zip"
    chosen.write_bytes(os.urandom(300 * 1024 + 7))
    submitted = []

    def catch_submit(route, request):
        if request.method != "POST":
            return route.continue_()
        submitted.append(request.post_data_buffer)
        route.fulfill(status=200, content_type="text/html", body="<p id=submitted>submitted</p>")

    log_in(page, coordinator.username)
    page.goto(f"/studies/{patient.study_id}/patients/{patient.pk}/scans/new/")
    page.route("**/scans/new/", catch_submit)
    patches = []
    page.on("request", lambda request: patches.append(request) if request.method == "PATCH" else None)
    # Small chunks, so that the page's chunking and progress are exercised on a small file.
    page.locator("#upload-form").evaluate("form => { form.dataset.chunkBytes = String(64 * 1024); }")
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#submitted")

    [body] = submitted
    assert len(patches) == 5  # 300 KiB in 64 KiB chunks
    assert all(request.headers["x-csrftoken"] for request in patches)
    ids_field = body.split(b'name="tus_uploads"\r\n\r\n', 1)[1].split(b"\r\n", 1)[0]
    [upload_id] = json.loads(ids_field)
    assert chosen.read_bytes() not in body  # the file went with tus, not in the form
    upload = TusUpload.load(upload_id)
    assert upload.info["user"] == coordinator.pk and upload.filename == "exam.zip" and upload.complete
    assert hashlib.sha256(upload.data.read_bytes()).digest() == hashlib.sha256(chosen.read_bytes()).digest()


def test_the_progress_bar_reaches_100_before_the_submit(page, coordinator, patient, media, tmp_path):
    chosen = tmp_path / "IM_0001"
    chosen.write_bytes(os.urandom(200 * 1024))
    log_in(page, coordinator.username)
    page.goto(f"/studies/{patient.study_id}/patients/{patient.pk}/scans/new/")
    # Stop at the submit: the form's own submit() is replaced, so the page stays to be looked at.
    page.locator("#upload-form").evaluate(
        "form => { form.dataset.chunkBytes = String(64 * 1024); form.submit = () => { form.dataset.sent = 'yes'; }; }")
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#upload-form[data-sent=yes]")
    assert page.locator("#tus-progress").evaluate("bar => bar.value") == 100
    assert page.locator("#tus-progress").is_visible()
    assert page.locator("#progress").inner_text().startswith("All files sent")
    [upload_id] = json.loads(page.locator("[name=tus_uploads]").input_value())
    assert TusUpload.load(upload_id).complete
    assert page.locator("#id_files").evaluate("input => input.files.length") == 0
    screenshot(page, "tus-upload-sent")
