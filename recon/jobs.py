"""A run's database state: claim, heartbeat, progress, publish, fail, cancel; and its work.

A run is claimed by one delivery of its task at a time (a token stored on the row).
A worker killed mid-run stops its heartbeat; any later delivery (Redis redelivery,
or the requeue a restarting worker does) finds the heartbeat stale and takes over.
Outputs are written to a temporary folder named after the claim and moved into place
only by the claim holder, in the same transaction that marks the run succeeded.

Nothing here sends a task: queueing, retrying, chaining the ROI measurement and the sweep's
re-sending are the orchestration in recon.tasks, which imports this module and not the reverse.
"""
from __future__ import annotations

import shutil
import uuid

from django.db import transaction
from django.utils import timezone

from clinical.claims import Claim, Heartbeat, claim_row, held_by, unfinished

from .models import ReconRun
from .previews import symmetric_limit, write_chi_preview
from qsm import InputError, __version__, load_inputs, reconstruct, save_outputs
from qsm.background import DEFAULT as DEFAULT_BACKGROUND
from qsm.inversion import DEFAULT as DEFAULT_INVERSION

# The library's default inversion is the one that measured best on the phantoms (docs/qsm.md);
# iSWIM, the seed study's method, is one click away on the scan page.
DEFAULT_PARAMS = {"inversion": DEFAULT_INVERSION, "background": DEFAULT_BACKGROUND, "mask": "magnitude", "reference": "brain"}
PROGRESS_INTERVAL_S = 0.5


class Cancelled(Exception):
    """The run was cancelled (or taken over) while it was running."""


def claim(run_id: int) -> Claim | str:
    """Take the run for this delivery, or say why not: "missing", "finished", "busy" (a live worker has it)."""
    return claim_row(ReconRun, run_id, ReconRun.Status.RUNNING, stage="starting", percent=0, error="")


def _holding(claim: Claim):
    return held_by(ReconRun, claim, ReconRun.Status.RUNNING)


def heartbeat(claim: Claim) -> Heartbeat:
    return Heartbeat(lambda: _holding(claim))


class ProgressReporter:
    """The pipeline's progress callback: stores stage and percent, and stops a cancelled run."""

    def __init__(self, claim: Claim) -> None:
        self.claim, self.last, self.stage = claim, 0.0, ""

    def __call__(self, stage: str, fraction: float) -> None:
        now = timezone.now().timestamp()
        # A new stage is always stored; repeated reports within a stage are thinned out.
        if stage == self.stage and fraction < 1 and now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last, self.stage = now, stage
        updated = _holding(self.claim).update(stage=stage, percent=round(95 * fraction, 1), heartbeat_at=timezone.now())
        if not updated:
            raise Cancelled(f"run {self.claim.pk} was cancelled or taken over")


def reconstruct_run(claim: Claim) -> None:
    """Reconstruct a claimed run and publish its outputs; raise InputError/ValueError for bad data."""
    run = ReconRun.objects.select_related("scan").get(pk=claim.pk)
    scan = run.scan
    if scan.field_strength_t is None:
        raise InputError(f"scan {scan.pk}", "no field strength recorded",
                         "edit the scan session's field strength (T) and retry")
    inputs = load_inputs(
        [scan.path("magnitude")], [scan.path("phase")], te_ms=scan.echo_times_ms, b0_tesla=float(scan.field_strength_t)
    )
    report = ProgressReporter(claim)
    result = reconstruct(
        inputs.magnitude, inputs.phase, inputs.te_s, inputs.b0_tesla, inputs.affine,
        inversion=run.params["inversion"], background=run.params["background"],
        reference=run.params["reference"], progress=report,
    )
    report("saving", 0.99)
    staging = run.directory.with_name(f"{run.uid}.tmp-{claim.token}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        written = save_outputs(result, inputs, staging / "chi.nii.gz", intermediates_dir=staging)
        limit = symmetric_limit(result.chi, result.mask)
        write_chi_preview(result.chi, inputs.affine, limit, staging / "preview.png")
        outputs = {role: path.name for role, path in written.items()} | {"preview": "preview.png"}
        _publish(claim, staging, outputs, result.timings, inputs.sources, limit)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(claim: Claim, staging, outputs: dict, timings: dict, sources: dict, limit: float) -> None:
    with transaction.atomic():
        run = ReconRun.objects.select_for_update().select_related("scan").get(pk=claim.pk)
        if run.claim != claim.token or run.status != ReconRun.Status.RUNNING:
            raise Cancelled(f"run {run.pk} was cancelled or taken over before it finished")
        run.directory.parent.mkdir(parents=True, exist_ok=True)
        # A folder already there is a killed publish's (renamed, never committed): this claim replaces it.
        shutil.rmtree(run.directory, ignore_errors=True)
        staging.rename(run.directory)
        run.status, run.stage, run.percent = ReconRun.Status.SUCCEEDED, "done", 100
        run.outputs, run.timings, run.package_version = outputs, timings, __version__
        run.display_limit_ppm = limit
        run.input_sha256 = _input_digests(sources)
        run.finished_at = timezone.now()
        run.save()
        if not ReconRun.objects.filter(scan=run.scan, is_current=True).exists():
            run.make_current()


def _input_digests(sources: dict) -> dict[str, str]:
    """{"magnitude": sha256, "phase": sha256, ...} from the library's provenance of its inputs."""
    digests = {}
    for role, described in sources.items():
        for index, item in enumerate(described if isinstance(described, list) else [described]):
            if item:
                digests[role if index == 0 else f"{role}_{index + 1}"] = item["sha256"]
    return digests


def fail(run_id: int, message: str, token: uuid.UUID | None = None) -> None:
    runs = ReconRun.objects.filter(pk=run_id).exclude(status__in=ReconRun.FINISHED)
    if token is not None:
        runs = runs.filter(claim=token)
    runs.update(status=ReconRun.Status.FAILED, error=message, finished_at=timezone.now())


def release(claim: Claim) -> None:
    """Give a claimed run back to the queue (before a retry after a transient failure)."""
    _holding(claim).update(status=ReconRun.Status.QUEUED, claim=None, heartbeat_at=None, stage="waiting to retry")


def create_run(scan, params: dict | None = None, user=None) -> ReconRun:
    """A queued run of the scan with the given parameters over the defaults (recon.tasks sends it)."""
    return ReconRun.objects.create(scan=scan, params={**DEFAULT_PARAMS, **(params or {})}, created_by=user)


def cancel(run: ReconRun) -> bool:
    """Cancel a queued or running run; the worker notices at its next progress report."""
    return bool(
        ReconRun.objects.filter(pk=run.pk).exclude(status__in=ReconRun.FINISHED).update(
            status=ReconRun.Status.CANCELLED, claim=None, finished_at=timezone.now(), stage="cancelled"
        )
    )


def reset_for_retry(run: ReconRun) -> bool:
    """Put a failed or cancelled run back in the queue (same parameters, same row); False for other runs."""
    return bool(ReconRun.objects.filter(pk=run.pk, status__in=[ReconRun.Status.FAILED, ReconRun.Status.CANCELLED]).update(
        status=ReconRun.Status.QUEUED, error="", stage="", percent=0, claim=None, heartbeat_at=None,
        started_at=None, finished_at=None,
    ))


def resend_candidates(queued_before=None, only_stale: bool = False) -> list[int]:
    """Runs whose task may have been lost (see :func:`clinical.claims.unfinished`)."""
    return unfinished(ReconRun, ReconRun.Status.QUEUED, ReconRun.Status.RUNNING, queued_before, only_stale)
