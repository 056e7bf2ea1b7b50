"""In headless Chromium: the dashboard's plots and table follow a filter."""
import pytest

from tests.conftest import log_in, screenshot, wait_for_plots
from tests.dashboard.cohort import seed_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def plot_links(page, name: str) -> int:
    wait_for_plots(page)
    return page.locator(f"#plot-{name} svg a").count()


def test_a_filter_changes_the_plots_and_the_table(page, investigator, study):
    seed_cohort(study)
    log_in(page, investigator.username)
    page.goto(f"/studies/{study.pk}/")
    page.get_by_role("link", name="Dashboard").click()
    assert page.locator("#dataset tr").count() == 13  # header + 12 patients
    assert plot_links(page, "groups") == 2 * 12 and plot_links(page, "scatter") == 12  # motor and control panels
    assert "0.00253" in page.locator("#section-spasticity").inner_text()  # 2 / 792, exact
    screenshot(page, "dashboard-all")

    page.select_option("#filters select[name=diagnosis]", ["PLS"])
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**diagnosis=PLS**")
    assert page.locator("#dataset tr").count() == 4
    assert plot_links(page, "groups") == 2 * 3
    wait_for_plots(page)
    assert "n=3" in page.locator("#plot-paired").inner_text()
    assert "has 3 patients (&lt;5): treat the p-value as exploratory" in page.content()
    screenshot(page, "dashboard-pls")

    first = page.locator("#plot-scatter svg a").first
    href = first.get_attribute("xlink:href") or first.get_attribute("href")
    assert f"/studies/{study.pk}/patients/" in href
