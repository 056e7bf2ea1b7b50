"""Extension points for pages owned by this app.

Apps above clinical (recon, dashboards) add sections to the scan page and links to the
study page by registering them here, so that clinical never imports them.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString

Panel = Callable[[HttpRequest, object, object], SafeString]
_scan_panels: list[Panel] = []
_patient_panels: list[Panel] = []


def register_scan_panel(panel: Panel) -> Panel:
    """Register panel(request, scan, membership) -> rendered HTML shown on the scan page."""
    if panel not in _scan_panels:
        _scan_panels.append(panel)
    return panel


def register_patient_panel(panel: Panel) -> Panel:
    """Register panel(request, patient, membership) -> rendered HTML shown on the patient page."""
    if panel not in _patient_panels:
        _patient_panels.append(panel)
    return panel


def scan_panels(request: HttpRequest, scan, membership) -> list[SafeString]:
    return [panel(request, scan, membership) for panel in _scan_panels]


def patient_panels(request: HttpRequest, patient, membership) -> list[SafeString]:
    return [panel(request, patient, membership) for panel in _patient_panels]


_study_links: list[tuple[str, str]] = []


def register_study_link(label: str, url_name: str) -> None:
    """Add a button to the study page pointing at url_name(study_id)."""
    if (label, url_name) not in _study_links:
        _study_links.append((label, url_name))


def study_links(study) -> list[tuple[str, str]]:
    return [(label, reverse(url_name, args=[study.pk])) for label, url_name in _study_links]
