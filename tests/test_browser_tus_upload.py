"""In headless Chromium: the upload page sends the chosen files with tus, then submits only their ids."""
import hashlib
import json
import os
import re

import pytest
from playwright.sync_api import expect

from clinical.tus import TusUpload, take_uploads
from tests.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def stop_before_submit(page) -> None:
    """64 KiB chunks, and the form's own submit() replaced, so that the page stays to be looked at."""
    page.locator("#upload-form").evaluate(
        "form => { form.dataset.chunkBytes = String(64 * 1024); form.submit = () => { form.dataset.sent = 'yes'; }; }")


def open_upload_page(page, coordinator, patient) -> None:
    log_in(page, coordinator.username)
    page.goto(f"/studies/{patient.study_id}/patients/{patient.pk}/scans/new/")
    stop_before_submit(page)


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
    open_upload_page(page, coordinator, patient)
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#upload-form")).to_have_attribute("data-sent", "yes")
    expect(page.locator("#tus-progress")).to_have_js_property("value", 100)
    expect(page.locator("#tus-progress")).to_be_visible()
    expect(page.locator("#progress")).to_have_text(re.compile(r"^\s*All files sent"), use_inner_text=True)
    [upload_id] = json.loads(page.locator("[name=tus_uploads]").input_value())
    assert TusUpload.load(upload_id).complete
    assert page.locator("#id_files").evaluate("input => input.files.length") == 0  # emptied before the submit
    screenshot(page, "tus-upload-sent")


def test_a_failed_chunk_is_sent_again_from_the_server_offset(page, coordinator, patient, media, tmp_path):
    chosen = tmp_path / "exam.zip"
    chosen.write_bytes(os.urandom(5 * 64 * 1024))
    seen = []

    def drop_the_second_chunk(route, request):
        seen.append(request.method)
        if request.method == "PATCH" and seen.count("PATCH") == 2:
            return route.abort("connectionreset")
        route.continue_()

    open_upload_page(page, coordinator, patient)
    page.route("**/uploads/tus/**", drop_the_second_chunk)
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#upload-form[data-sent=yes]")
    # After the drop the client asked the server where it stands, then went on from there.
    assert seen == ["POST", "PATCH", "PATCH", "HEAD", "PATCH", "PATCH", "PATCH", "PATCH"]
    [upload_id] = json.loads(page.locator("[name=tus_uploads]").input_value())
    assert TusUpload.load(upload_id).data.read_bytes() == chosen.read_bytes()


def test_choosing_the_same_file_after_a_reload_resumes_it(page, coordinator, patient, media, tmp_path):
    chosen = tmp_path / "exam.zip"
    chosen.write_bytes(os.urandom(5 * 64 * 1024))
    held, seen = [], []

    def stall_the_third_chunk(route, request):
        if request.method == "PATCH" and seen.count("PATCH") >= 2 and "HEAD" not in seen:
            held.append(route)  # never answered: the page is reloaded meanwhile
            return
        seen.append(request.method)
        route.continue_()

    open_upload_page(page, coordinator, patient)
    page.route("**/uploads/tus/**", stall_the_third_chunk)
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_function("() => document.getElementById('tus-progress').value >= 40")
    for _ in range(100):  # the bar shows 40 % before the third PATCH reaches the route: let it arrive
        if held:
            break
        page.wait_for_timeout(100)
    assert held and seen == ["POST", "PATCH", "PATCH"]
    [folder] = (media / ".incoming" / "tus").iterdir()
    partial = TusUpload.load(folder.name)
    assert partial.offset == 2 * 64 * 1024

    page.reload()
    stop_before_submit(page)
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#upload-form[data-sent=yes]")
    assert seen[3:] == ["HEAD", "PATCH", "PATCH", "PATCH"]  # no new upload, only the missing chunks
    assert json.loads(page.locator("[name=tus_uploads]").input_value()) == [partial.id]
    assert partial.data.read_bytes() == chosen.read_bytes()


def test_a_folder_goes_file_by_file_under_its_paths(page, coordinator, patient, media, tmp_path):
    exam = tmp_path / "exam"
    for series in ("s1", "s2"):
        (exam / series).mkdir(parents=True)
        (exam / series / "IM_0001").write_bytes(series.encode() * 1000)
    open_upload_page(page, coordinator, patient)
    page.set_input_files("#id_folder", str(exam))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#upload-form[data-sent=yes]")
    ids = json.loads(page.locator("[name=tus_uploads]").input_value())
    assert sorted(TusUpload.load(i).filename for i in ids) == ["exam/s1/IM_0001", "exam/s2/IM_0001"]
    paths = take_uploads(ids, coordinator, tmp_path / "taken")
    assert sorted(p.relative_to(tmp_path / "taken").as_posix() for p in paths) == ["exam/s1/IM_0001", "exam/s2/IM_0001"]
    assert (tmp_path / "taken" / "exam" / "s2" / "IM_0001").read_bytes() == b"s2" * 1000


def test_a_file_over_the_limit_is_refused_before_it_is_sent(page, coordinator, patient, media, settings, tmp_path):
    settings.SCAN_UPLOAD_MAX_BYTES = 100 * 1024
    chosen = tmp_path / "exam.zip"
    chosen.write_bytes(os.urandom(150 * 1024))
    open_upload_page(page, coordinator, patient)
    page.set_input_files("#id_files", [str(chosen)])
    page.get_by_role("button", name="Upload and check").click()
    progress = page.locator("#progress")
    # \s also matches the no-break space before "KB".
    stopped = re.compile(r"^\s*Upload stopped: exam\.zip is 150\.0\sKB\..*SCAN_UPLOAD_MAX_BYTES", re.S)
    expect(progress).to_have_text(stopped, use_inner_text=True)
    expect(progress).not_to_contain_text("resume", use_inner_text=True)
    expect(page.get_by_role("button", name="Upload and check")).to_be_enabled()
    expect(page.locator("#upload-form[data-sent]")).to_have_count(0)
    assert not list((media / ".incoming").rglob("data"))
