"""Who may see, start, cancel and retry runs."""
import datetime as dt

import pytest
from django.urls import reverse

from clinical.models import Patient
from recon import jobs, tasks
from recon.models import ReconRun
from tests.recon_data import phantom_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(study):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    scan = phantom_scan(patient)
    run = scan.recon_runs.get()
    jobs.fail(run.pk, "The scan has no field strength: edit it and retry.")
    run.refresh_from_db()
    return run


def action(client, run, name):
    return client.post(reverse("run_action", args=[run.scan.study_id, run.pk, name]))


def test_a_viewer_cannot_retry_or_cancel(as_viewer, run):
    assert action(as_viewer, run, "retry").status_code == 403
    assert action(as_viewer, run, "cancel").status_code == 403
    run.refresh_from_db()
    assert run.status == ReconRun.Status.FAILED


def test_an_investigator_can_retry(client, investigator, run):
    client.force_login(investigator)
    assert action(client, run, "retry").status_code == 302
    run.refresh_from_db()
    assert run.status == ReconRun.Status.QUEUED and run.error == ""


def test_outsiders_get_404_everywhere(as_outsider, run):
    study_id = run.scan.study_id
    for url in [reverse("run_status", args=[study_id, run.pk]), reverse("jobs", args=[study_id]),
                reverse("run_file", args=[study_id, run.pk, "chi"])]:
        assert as_outsider.get(url).status_code == 404, url
    assert action(as_outsider, run, "retry").status_code == 404


def test_the_status_endpoint_reports_the_error_in_words(as_viewer, run):
    data = as_viewer.get(reverse("run_status", args=[run.scan.study_id, run.pk])).json()
    assert data["status"] == "failed" and "no field strength" in data["error"]


def test_rerunning_with_new_parameters_keeps_the_old_run(as_coordinator, run):
    response = as_coordinator.post(reverse("run_new", args=[run.scan.study_id, run.scan.pk]),
                                   {"inversion": "tkd", "background": "pdf", "reference": "brain"})
    assert response.status_code == 302
    runs = list(run.scan.recon_runs.order_by("pk"))
    assert len(runs) == 2 and runs[1].params["inversion"] == "tkd" and runs[1].params["background"] == "pdf"


def test_unknown_parameters_are_refused(as_coordinator, run):
    as_coordinator.post(reverse("run_new", args=[run.scan.study_id, run.scan.pk]), {"inversion": "magic"})
    assert run.scan.recon_runs.count() == 1


def test_one_current_run_per_scan(run):
    other = ReconRun.objects.create(scan=run.scan, params=run.params, status=ReconRun.Status.SUCCEEDED)
    run.make_current()
    other.make_current()
    assert list(run.scan.recon_runs.filter(is_current=True)) == [other]


def test_a_busy_run_is_not_taken_over_but_a_stale_one_is(run):
    tasks.retry(run)
    first = jobs.claim(run.pk)
    assert isinstance(first, jobs.Claim)
    assert jobs.claim(run.pk) == "busy"
    ReconRun.objects.filter(pk=run.pk).update(heartbeat_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    second = jobs.claim(run.pk)
    assert isinstance(second, jobs.Claim) and second.token != first.token
    run.refresh_from_db()
    assert run.attempts == 2
    with pytest.raises(jobs.Cancelled):
        jobs.ProgressReporter(first)("inversion", 0.5)


def test_every_stage_change_is_stored_even_in_quick_succession(run):
    tasks.retry(run)
    claim = jobs.claim(run.pk)
    report = jobs.ProgressReporter(claim)
    for stage, fraction in [("mask", 0.0), ("mask", 0.01), ("unwrap", 0.05)]:
        report(stage, fraction)
    run.refresh_from_db()
    assert run.stage == "unwrap" and run.percent == round(95 * 0.05, 1)
