"""Reconstruction jobs through a real worker process: results, crashes, bad data, cancel, duplicates."""
import datetime as dt
import os
import signal

import nibabel as nib
import numpy as np
import pytest

from clinical.models import Patient
from recon.models import ReconRun
from qsm import reconstruct
from recon.tasks import reconstruct_task
from tests.conftest import wait_for
from tests.recon_data import phantom, phantom_scan

pytestmark = pytest.mark.worker


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


def reload(run: ReconRun) -> ReconRun:
    run.refresh_from_db()
    return run


def outputs_of(run: ReconRun) -> list:
    """The run's output folder and any temporary folders of its attempts."""
    return sorted(run.directory.parent.glob(f"{run.uid}*"))


def finished(run: ReconRun):
    def run_finished():
        return reload(run).finished

    return run_finished


def test_a_new_scan_is_reconstructed_like_the_library_does(recon_worker, patient):
    scan = phantom_scan(patient)
    run = scan.recon_runs.get()
    wait_for(finished(run), timeout=120)
    assert run.status == ReconRun.Status.SUCCEEDED, run.error
    assert run.is_current and run.attempts == 1 and run.percent == 100
    assert set(run.timings) >= {"mask", "unwrap", "echo_fit", "background", "inversion", "reference"}
    stored = nib.load(run.output_path("chi")).get_fdata(dtype=np.float32)
    head = phantom()
    direct = reconstruct(head.magnitude, head.phase, head.te_s, head.b0_tesla, head.affine)  # library defaults
    np.testing.assert_allclose(stored, direct.chi, atol=1e-6)
    assert run.input_sha256 and all(len(v) == 64 for v in run.input_sha256.values())
    assert outputs_of(run) == [run.directory]


def test_a_worker_killed_mid_job_is_replaced_and_the_run_finishes_once(recon_worker, patient):
    scan = phantom_scan(patient, size="full")
    run = scan.recon_runs.get()
    ReconRun.objects.filter(pk=run.pk).update(params={**run.params, "inversion": "tv"})

    def in_background_removal():  # the single-step TV solve: the longest stage
        return reload(run).stage == "background"

    wait_for(in_background_removal, timeout=120, interval=0.05)
    worker = recon_worker.processes[0]
    os.killpg(worker.pid, signal.SIGKILL)  # the main process and its pool child, no warning
    worker.wait()
    recon_worker.start("recon-restarted")
    wait_for(finished(run), timeout=180)
    assert run.status == ReconRun.Status.SUCCEEDED, run.error
    assert run.attempts == 2
    assert ReconRun.objects.filter(scan=scan).count() == 1
    assert outputs_of(run) == [run.directory]
    assert nib.load(run.output_path("chi")).shape == phantom("full").chi.shape


def test_bad_data_fails_once_with_its_reason(recon_worker, patient):
    head = phantom()
    broken = head.phase.copy()
    broken[10, 10, 10, 0] = np.nan
    scan = phantom_scan(patient, phase=broken)
    run = scan.recon_runs.get()
    wait_for(finished(run), timeout=120)
    assert run.status == ReconRun.Status.FAILED
    assert run.attempts == 1
    assert "NaN" in run.error or "not finite" in run.error, run.error
    assert not run.directory.exists()


def test_a_cancelled_run_stops_and_publishes_nothing(recon_worker, patient):
    scan = phantom_scan(patient, size="full")
    run = scan.recon_runs.get()
    ReconRun.objects.filter(pk=run.pk).update(params={**run.params, "inversion": "tv"})
    wait_for(lambda: reload(run).status == ReconRun.Status.RUNNING, timeout=120, interval=0.05)
    from recon.jobs import cancel

    assert cancel(run)
    wait_for(lambda: "cancelled" in recon_worker.log(), timeout=60)
    assert reload(run).status == ReconRun.Status.CANCELLED
    assert outputs_of(run) == []


def test_a_run_delivered_twice_produces_one_result(recon_worker, patient):
    scan = phantom_scan(patient)
    run = scan.recon_runs.get()
    reconstruct_task.delay(run.pk)  # a second delivery of the same run
    wait_for(finished(run), timeout=120)
    assert run.status == ReconRun.Status.SUCCEEDED and run.attempts == 1
    assert outputs_of(run) == [run.directory]

