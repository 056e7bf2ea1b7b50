"""End to end with a real worker process: a BIDS export job and an import job started over the API are
run by the worker (queue "ingest"), and a client that waits on them gets the zip and the imported study."""
import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clinical.models import Role
from exchange.models import Transfer
from tests.api.conftest import token_client
from tests.conftest import wait_for
from tests.exchange.conftest import zip_members
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.worker


def finished(api, location: str) -> dict:
    """Poll the job as a client would, until it is finished."""
    def done():
        job = api.get(location).json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=60, interval=0.2)


def test_a_worker_exports_a_study_and_imports_it_into_another(ingest_worker, study, other_study, coordinator):
    build_study(study, design=DESIGN[:3], scans=False)
    other_study.add_member(coordinator, Role.COORDINATOR)
    api = token_client(coordinator)

    started = time.monotonic()
    response = api.post(f"/api/v1/studies/{study.pk}/export/bids?diagnosis=ALS")
    assert response.status_code == 202
    job = finished(api, response["Location"])
    exported_in = time.monotonic() - started
    assert job["status"] == "succeeded", job
    archive = b"".join(api.get(job["download"]).streaming_content)
    table = zip_members(archive)["participants.tsv"].decode()
    assert [line.split("\t")[1] for line in table.splitlines()[1:]] == ["ALS-01", "ALS-02", "ALS_03"]

    started = time.monotonic()
    response = api.post(f"/api/v1/studies/{other_study.pk}/import/bids",
                        {"file": SimpleUploadedFile("study.zip", archive)}, format="multipart")
    assert response.status_code == 202
    job = finished(api, response["Location"])
    imported_in = time.monotonic() - started
    assert job["status"] == "succeeded", job
    assert job["result"]["summary"].startswith("3 patients, 6 exams, 0 scan sessions")
    assert sorted(other_study.patients.values_list("code", flat=True)) == ["ALS-01", "ALS-02", "ALS_03"]
    transfer = Transfer.objects.get(study=other_study)
    assert transfer.attempts == 1 and not transfer.upload.exists()
    print(f"worker: export job done in {exported_in:.1f} s, import job in {imported_in:.1f} s (from the request)")
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.testzip() is None
