"""Dashboard page, CSV, plots and the analysis API: content, filters and access."""
import csv
import io

import pytest
from django.urls import reverse

from tests.dashboard.cohort import seed_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(study):
    seed_cohort(study)
    return study


def test_the_page_shows_comparisons_with_exact_p_values(as_viewer, cohort):
    body = as_viewer.get(reverse("dashboard", args=[cohort.pk])).content.decode()
    assert "<strong>12</strong> scans from <strong>12</strong> patients" in body
    assert "Mann-Whitney U" in body and "Wilcoxon signed-rank" in body and "Kendall" in body
    assert f"{2 / 792:.3g}" in body  # the exact p of 7 vs 5 separated groups
    assert "has 3 patients" in body or "3 patients" in body


def test_filters_change_the_dataset(as_viewer, cohort):
    body = as_viewer.get(reverse("dashboard", args=[cohort.pk]), {"diagnosis": "PLS"}).content.decode()
    assert "<strong>3</strong> scans from <strong>3</strong> patients" in body
    body = as_viewer.get(reverse("dashboard", args=[cohort.pk]), {"max_gap": "1"}).content.decode()
    assert "<strong>0</strong> scans" in body  # every exam is 2 days from its scan
    body = as_viewer.get(reverse("dashboard", args=[cohort.pk]), {"date_to": "2023-12-31"}).content.decode()
    assert "<strong>0</strong> scans" in body


def test_the_dataset_downloads_as_csv(as_viewer, cohort):
    response = as_viewer.get(reverse("dataset_csv", args=[cohort.pk]), {"diagnosis": "ALS"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 9 and {r["diagnosis"] for r in rows} == {"ALS"}
    assert {"code", "scan_date", "exam_date", "gap_days", "spasticity", "LMC", "RCT"} <= set(rows[0])


def test_the_analysis_api_returns_every_comparison(client, investigator, cohort):
    client.force_login(investigator)
    data = client.get(reverse("analysis_api", args=[cohort.pk])).json()
    assert data["n_rows"] == 12 and data["n_patients"] == 12
    motor = next(c for c in data["comparisons"]
                 if c["section"] == "Spasticity present vs absent" and c["name"] == "motor (L+R mean)")
    assert motor["test"].startswith("Mann-Whitney U") and motor["p_value"] == pytest.approx(2 / 792)
    assert [g["n"] for g in motor["groups"]] == [7, 5]
    assert motor["effect"]["ci"][0] is not None and motor["p_holm"] >= motor["p_value"]
    assert {c["section"] for c in data["comparisons"]} >= {
        "ALS vs PLS", "Hyperreflexia present vs absent", "Correlation with UMN burden and function"}


def test_plots_are_svg_with_links_to_patients_and_png(as_viewer, cohort):
    svg = as_viewer.get(reverse("plot", args=[cohort.pk, "groups", "svg"])).content.decode()
    assert svg.startswith("<?xml") and svg.count(f"/studies/{cohort.pk}/patients/") >= 12
    png = as_viewer.get(reverse("plot", args=[cohort.pk, "scatter", "png"]))
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    paired = as_viewer.get(reverse("plot", args=[cohort.pk, "paired", "svg"]), {"within": "PLS"}).content.decode()
    assert "n=3" in paired


def test_outsiders_get_404(as_outsider, cohort):
    for url in [reverse("dashboard", args=[cohort.pk]), reverse("analysis_api", args=[cohort.pk]),
                reverse("dataset_csv", args=[cohort.pk]), reverse("plot", args=[cohort.pk, "groups", "svg"])]:
        assert as_outsider.get(url).status_code == 404, url


def test_anonymous_api_calls_are_refused(client, cohort):
    assert client.get(reverse("analysis_api", args=[cohort.pk])).status_code == 302


def test_an_empty_study_has_an_empty_dashboard(as_viewer, study):
    body = as_viewer.get(reverse("dashboard", args=[study.pk])).content.decode()
    assert "No ROI values yet" in body
    assert as_viewer.get(reverse("analysis_api", args=[study.pk])).json()["comparisons"] == []


def test_the_study_description_is_shown_so_demo_data_read_as_synthetic(as_viewer, study):
    study.description = "SYNTHETIC DEMO DATA"
    study.save()
    for url in (reverse("dashboard", args=[study.pk]), reverse("study", args=[study.pk])):
        assert "SYNTHETIC DEMO DATA" in as_viewer.get(url).content.decode()
