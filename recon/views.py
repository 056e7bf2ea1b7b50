"""Reconstruction pages: runs on the scan page, a study-wide jobs page, status JSON, actions, files."""
from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from clinical.access import membership_or_404
from clinical.models import Membership, ScanSession

from . import jobs
from .forms import RunForm
from .models import ReconRun


def _run(membership: Membership, run_id: int) -> ReconRun:
    return get_object_or_404(ReconRun.objects.select_related("scan__patient"), pk=run_id, scan__study=membership.study)


def runs_panel(request: HttpRequest, scan: ScanSession, membership: Membership) -> SafeString:
    """The scan page's reconstruction section."""
    return render_to_string(
        "recon/runs_panel.html",
        {"scan": scan, "runs": scan.recon_runs.all(), "membership": membership, "form": RunForm(),
         "study": membership.study},
        request=request,
    )


def jobs_page(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    runs = ReconRun.objects.filter(scan__study=membership.study).select_related("scan__patient")
    status = request.GET.get("status", "")
    if status in ReconRun.Status.values:
        runs = runs.filter(status=status)
    return render(
        request, "recon/jobs.html",
        {"study": membership.study, "membership": membership, "runs": runs[:500], "statuses": ReconRun.Status.values,
         "status": status},
    )


def run_status(request: HttpRequest, study_id: int, run_id: int) -> JsonResponse:
    membership = membership_or_404(request, study_id)
    return JsonResponse(_run(membership, run_id).as_status())


def study_status(request: HttpRequest, study_id: int) -> JsonResponse:
    """Status of the study's unfinished runs plus the given ids, for the pages' progress bars."""
    membership = membership_or_404(request, study_id)
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()][:500]
    runs = ReconRun.objects.filter(scan__study=membership.study, pk__in=ids)
    return JsonResponse({"runs": [run.as_status() for run in runs]})


@require_POST
def run_new(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, analyse=True)
    scan = get_object_or_404(ScanSession, pk=scan_id, study=membership.study)
    form = RunForm(request.POST)
    if form.is_valid():
        run = jobs.queue_run(scan, form.cleaned_data, user=request.user)
        messages.success(request, f"Run {run.pk} queued ({run.describe_params()}).")
    else:
        messages.error(request, "Choose the inversion, background removal and reference from the lists.")
    return redirect(scan)


@require_POST
def run_action(request: HttpRequest, study_id: int, run_id: int, action: str) -> HttpResponse:
    membership = membership_or_404(request, study_id, analyse=True)
    run = _run(membership, run_id)
    if action == "cancel":
        done = jobs.cancel(run)
    elif action == "retry":
        done = jobs.retry(run)
    elif action == "make-current" and run.status == ReconRun.Status.SUCCEEDED:
        run.make_current()
        done = True
    else:
        raise Http404("No such action.")
    if done:
        messages.success(request, f"Run {run.pk}: {action.replace('-', ' ')} done.")
    else:
        messages.error(request, f"Run {run.pk} is {run.status}; it cannot be {action.replace('-', ' ')}ed now.")
    return redirect(request.POST.get("next") or run.scan.get_absolute_url())


def run_file(request: HttpRequest, study_id: int, run_id: int, kind: str) -> FileResponse:
    membership = membership_or_404(request, study_id)
    run = _run(membership, run_id)
    if run.status != ReconRun.Status.SUCCEEDED or kind not in run.outputs or not run.output_path(kind).exists():
        raise Http404("No such output for this run.")
    name = f"{run.scan.patient.code}_{run.scan.scan_date:%Y%m%d}_run{run.pk}_{run.outputs[kind]}"
    return FileResponse(run.output_path(kind).open("rb"), as_attachment=kind != "preview", filename=name)
