"""Reconstruction pages: runs on the scan page, a study-wide jobs page, status JSON, actions, files."""
from __future__ import annotations

import nibabel as nib
import numpy as np
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clinical.access import membership_or_404
from clinical.models import Membership, ScanSession

from . import jobs, rois, tasks
from .forms import RunForm
from .models import ReconRun, RoiDefinition, RoiValue
from .previews import symmetric_limit
from .roi_forms import RoiUploadForm, SphereForm


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


@require_safe
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


@require_safe
def run_status(request: HttpRequest, study_id: int, run_id: int) -> JsonResponse:
    membership = membership_or_404(request, study_id)
    return JsonResponse(_run(membership, run_id).as_status())


@require_safe
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
        run = tasks.queue_run(scan, form.cleaned_data, user=request.user)
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
        done = tasks.retry(run)
    elif action == "make-current":
        done = tasks.make_current(run)
    else:
        raise Http404("No such action.")
    if done:
        messages.success(request, f"Run {run.pk}: {action.replace('-', ' ')} done.")
    else:
        messages.error(request, f"Run {run.pk} is {run.status}; it cannot be {action.replace('-', ' ')}ed now.")
    return redirect(_same_host(request, request.POST.get("next", "")) or run.scan.get_absolute_url())


def _same_host(request: HttpRequest, target: str) -> str:
    """The `next` target if it stays on this site, else empty: a form must not send people elsewhere."""
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure())
    return target if safe else ""


@require_safe
def run_file(request: HttpRequest, study_id: int, run_id: int, kind: str) -> FileResponse:
    membership = membership_or_404(request, study_id)
    run = _run(membership, run_id)
    if run.status != ReconRun.Status.SUCCEEDED or kind not in run.outputs or not run.output_path(kind).exists():
        raise Http404("No such output for this run.")
    name = f"{run.scan.patient.code}_{run.scan.scan_date:%Y%m%d}_run{run.pk}_{run.outputs[kind]}"
    return FileResponse(run.output_path(kind).open("rb"), as_attachment=kind != "preview", filename=name)


def _scan(membership: Membership, scan_id: int) -> ScanSession:
    return get_object_or_404(ScanSession.objects.select_related("patient"), pk=scan_id, study=membership.study)


def rois_panel(request: HttpRequest, scan: ScanSession, membership: Membership) -> SafeString:
    """The scan page's ROI section: definitions with versions, values on the current run, forms."""
    labels = membership.study.roi_labels
    current = ReconRun.objects.filter(scan=scan, is_current=True).first()
    values = {v.roi_id: v for v in RoiValue.objects.filter(run=current)} if current else {}
    latest = RoiDefinition.latest_for(scan)
    return render_to_string(
        "recon/rois_panel.html",
        {"scan": scan, "study": membership.study, "membership": membership, "current": current,
         "rows": [(roi, values.get(roi.pk)) for roi in latest],
         "history": scan.rois.all(), "upload_form": RoiUploadForm(initial={"mapping": _default_mapping(labels)}),
         "sphere_form": SphereForm(labels=labels)},
        request=request,
    )


def patient_rois_panel(request: HttpRequest, patient, membership: Membership) -> SafeString:
    """The patient page's table: the values the analysis uses, with every ROI version of the current runs below."""
    order = ("-run__scan__scan_date", "roi__name", "-roi__version")
    analysed = (RoiValue.analysed().filter(run__scan__patient=patient)
                .select_related("roi", "run__scan").order_by(*order))
    history = (RoiValue.objects.filter(run__scan__patient=patient, run__is_current=True)
               .select_related("roi", "run__scan").order_by(*order))
    used = {v.pk for v in analysed}
    return render_to_string(
        "recon/patient_rois.html",
        {"values": analysed, "history": [(v, v.pk in used) for v in history], "study": membership.study},
        request=request)


def _default_mapping(labels: list[str]) -> str:
    return ", ".join(f"{i}={name}" for i, name in enumerate(labels, start=1))


def _after_roi_change(request: HttpRequest, scan: ScanSession, saved: list[RoiDefinition]) -> None:
    names = ", ".join(str(roi) for roi in saved)
    messages.success(request, f"Saved {names}; values are being computed on the current run.")


@require_POST
def roi_upload(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    scan = _scan(membership, scan_id)
    form = RoiUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a label image and give the label values.")
        return redirect(scan)
    upload = form.cleaned_data["file"]
    try:
        mapping = rois.parse_mapping(form.cleaned_data["mapping"], membership.study.roi_labels)
        image = rois.read_label_image(upload.read(), upload.name)
        masks = rois.masks_from_labels(image, mapping, scan, upload.name)
    except rois.RoiError as exc:
        messages.error(request, f"{exc} Nothing was saved.")
        return redirect(scan)
    details = {name: {"file": upload.name, "label_value": value} for value, name in mapping.items()}
    _after_roi_change(request, scan, rois.save_rois(scan, masks, RoiDefinition.Source.UPLOADED, details, request.user))
    return redirect(scan)


@require_POST
def roi_sphere(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    scan = _scan(membership, scan_id)
    form = SphereForm(request.POST, labels=membership.study.roi_labels)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        messages.error(request, f"Sphere not placed: {problems}")
        return redirect(scan)
    data = form.cleaned_data
    centre = [data["x"], data["y"], data["z"]]
    try:
        mask = rois.sphere_roi(scan, centre, data["radius"], data["within_brain"])
    except rois.RoiError as exc:
        messages.error(request, f"{exc} Nothing was saved.")
        return redirect(scan)
    details = {data["name"]: {"centre_ras_mm": centre, "radius_mm": data["radius"], "within_brain": data["within_brain"]}}
    _after_roi_change(request, scan, rois.save_rois(scan, {data["name"]: mask}, RoiDefinition.Source.SPHERE, details,
                                                    request.user))
    return redirect(scan)


@require_safe
def viewer(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    scan = _scan(membership, scan_id)
    current = ReconRun.objects.current().filter(scan=scan).first()
    config = {
        "background": reverse("viewer_background", args=[study_id, scan.pk]),
        "chi": reverse("run_file", args=[study_id, current.pk, "chi"]) if current else None,
        "chi_limit_ppm": viewer_limit(current) if current else None,
        "labels": membership.study.roi_labels,
        "drawing": reverse("roi_drawing", args=[study_id, scan.pk]) if scan.rois.exists() else None,
        "save": reverse("roi_drawing", args=[study_id, scan.pk]) if membership.can_edit else None,
        "scan_page": scan.get_absolute_url(),
    }
    return render(request, "recon/viewer.html", {"scan": scan, "study": membership.study, "config": config,
                                                 "membership": membership, "current": current})


@require_safe
def viewer_background(request: HttpRequest, study_id: int, scan_id: int) -> FileResponse:
    """First-echo magnitude as a 3D NIfTI: the viewer's background and the grid drawings are saved on."""
    membership = membership_or_404(request, study_id)
    scan = _scan(membership, scan_id)
    return FileResponse(rois.first_echo_magnitude(scan).open("rb"), filename="magnitude_echo1.nii.gz")


@require_http_methods(["GET", "POST"])
def roi_drawing(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    """GET: the latest ROIs as one label image (value i+1 = i-th study label). POST: save a drawing."""
    membership = membership_or_404(request, study_id, edit=request.method == "POST")
    scan = _scan(membership, scan_id)
    labels = membership.study.roi_labels
    if request.method == "GET":
        return HttpResponse(rois.combined_labels(scan, labels), content_type="application/octet-stream")
    upload = request.FILES.get("drawing")
    if upload is None:
        return JsonResponse({"error": "No drawing was sent."}, status=400)
    try:
        image = rois.read_label_image(upload.read(), "drawing")
        present = rois.label_values_present(image)
        mapping = {value: labels[value - 1] for value in present if 0 < value <= len(labels)}
        if not mapping:
            raise rois.RoiError("The drawing is empty: paint at least one ROI label before saving.")
        masks = rois.masks_from_labels(image, mapping, scan, "drawing")
    except rois.RoiError as exc:
        return JsonResponse({"error": f"{exc} Nothing was saved."}, status=400)
    unchanged = rois.unchanged_names(scan, masks)
    masks = {name: mask for name, mask in masks.items() if name not in unchanged}
    saved = rois.save_rois(scan, masks, RoiDefinition.Source.DRAWN, {}, request.user) if masks else []
    return JsonResponse({"saved": [str(roi) for roi in saved], "unchanged": sorted(unchanged)})


@require_safe
def roi_file(request: HttpRequest, study_id: int, roi_id: int) -> FileResponse:
    membership = membership_or_404(request, study_id)
    roi = get_object_or_404(RoiDefinition.objects.select_related("scan__patient"), pk=roi_id,
                            scan__study=membership.study)
    name = f"{roi.scan.patient.code}_{roi.scan.scan_date:%Y%m%d}_{roi.name}_v{roi.version}.nii.gz"
    return FileResponse(roi.path.open("rb"), as_attachment=True, filename=name)


def viewer_limit(run: ReconRun) -> float:
    """Symmetric display limit (ppm) of a run's chi, as in its preview.

    Runs published before the limit was stored get it computed from their files once, then kept.
    """
    if run.display_limit_ppm is None:
        chi = np.asarray(nib.load(run.output_path("chi")).dataobj)
        mask = np.asarray(nib.load(run.output_path("mask")).dataobj) > 0
        run.display_limit_ppm = symmetric_limit(chi, mask)
        run.save(update_fields=["display_limit_ppm"])
    return run.display_limit_ppm
