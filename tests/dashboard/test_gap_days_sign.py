"""The dataset's gap_days is exam minus scan, in days, and the page says so."""
from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.dataset import build_dataset
from tests.dashboard.cohort import seed_cohort

pytestmark = pytest.mark.django_db


def test_gap_days_is_exam_minus_scan(study):
    seed_cohort(study)  # exams on 10 January, scans on 12 January
    rows = build_dataset(study)
    assert set(rows["gap_days"]) == {-2}
    assert ((rows["exam_date"] - rows["scan_date"]).dt.days == rows["gap_days"]).all()


def test_the_page_explains_the_sign(as_viewer, study):
    seed_cohort(study)
    body = as_viewer.get(reverse("dashboard", args=[study.pk])).content.decode()
    assert "exam minus scan, days" in body
    assert "negative when the exam came before the scan" in body
