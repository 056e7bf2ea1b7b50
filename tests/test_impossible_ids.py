"""Ids too long to be ids get a 404 on every page, not a database overflow."""
import pytest

HUGE = "9" * 20

PAGES = [
    "/studies/{huge}/",
    "/studies/{study}/patients/{huge}/",
    "/studies/{study}/patients/{huge}/exams/{huge}/edit/",
    "/studies/{study}/scans/{huge}/",
    "/studies/{study}/runs/{huge}/status.json",
    "/studies/{study}/rois/{huge}.nii.gz",
    "/studies/{huge}/dashboard/",
    "/studies/{huge}/dashboard/plots/groups.svg",
    "/studies/{huge}/bids/",
    "/api/studies/{huge}/analysis",
]


@pytest.mark.parametrize("template", PAGES)
def test_it_answers_404_for_ids_no_table_can_hold(as_coordinator, study, template):
    response = as_coordinator.get(template.format(huge=HUGE, study=study.pk))
    assert response.status_code == 404


def test_it_still_serves_ordinary_ids(as_coordinator, study):
    assert as_coordinator.get(f"/studies/{study.pk}/").status_code == 200
