"""A seeded study for the API tests: one of everything, and clients that authenticate with a token only."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clinical.models import Exam, Ingest, Patient
from exchange.models import Transfer
from recon import rois
from recon.models import RoiDefinition, RoiValue
from tests.recon_data import phantom, phantom_scan
from tests.conftest import run_ingests


def token_client(user) -> APIClient:
    """A client that sends only `Authorization: Token ...` (no session, no CSRF cookie)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def seeded(study, coordinator) -> dict:
    """A patient with an exam, a phantom scan, its (queued) run, an ROI and a value on the run, a queued BIDS export."""
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    exam = Exam.objects.create(patient=patient, date=dt.date(2024, 3, 1), examiner="Dr A", mas_upper_left="1+")
    scan = phantom_scan(patient)
    run = scan.recon_runs.get()
    mask = phantom().rois["LMC"]
    [roi] = rois.save_rois(scan, {"LMC": mask}, RoiDefinition.Source.UPLOADED, {}, coordinator)
    value = RoiValue.objects.create(roi=roi, run=run, mean_ppb=12.5, median_ppb=12.0, sd_ppb=3.0, q1_ppb=10.0,
                                    q3_ppb=15.0, p5_ppb=7.0, p95_ppb=18.0, voxels=int(np.sum(mask)),
                                    reference="whole-brain mean")
    ingest = Ingest.objects.create(study=study, patient=patient, uploaded_by=coordinator, scan=scan,
                                   status=Ingest.Status.STORED)
    transfer = Transfer.objects.create(kind=Transfer.Kind.EXPORT, study=study, requested_by=coordinator)  # queued
    return {"study": study, "patient": patient, "exam": exam, "scan": scan, "run": run, "roi": roi, "value": value,
            "ingest": ingest, "transfer": transfer}


def path_values(seeded: dict, path: str) -> dict[str, object]:
    """Path parameters for an API path of the seeded study (a new parameter name fails loudly)."""
    values = {"study_id": seeded["study"].pk, "patient_id": seeded["patient"].pk, "exam_id": seeded["exam"].pk,
              "scan_id": seeded["scan"].pk, "run_id": seeded["run"].pk, "roi_id": seeded["roi"].pk,
              "ingest_uid": seeded["ingest"].uid,
              "transfer_uid": seeded["transfer"].uid,
              "kind": "chi" if "/runs/" in path else "magnitude"}
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return {name: values[name] for name in names}


def url_of(seeded: dict, path: str) -> str:
    return path.format(**path_values(seeded, path))


def waited_for(api, response) -> dict:
    """What an API client following a scan upload's 202 ends with: the finished ingest."""
    assert response.status_code == 202, response.json()
    assert response["Location"].endswith(f"/ingests/{response.json()['id']}")
    run_ingests()
    finished = api.get(response["Location"])
    assert finished.status_code == 200 and finished.json()["status"] in ("stored", "refused"), finished.json()
    return finished.json()


def stored_scan(api, response) -> dict:
    """The scan a followed upload stored (what the synchronous 201 answered with)."""
    ingest = waited_for(api, response)
    assert ingest["status"] == "stored", ingest["errors"]
    scan = api.get(ingest["scan_url"])
    assert scan.status_code == 200
    return scan.json()
