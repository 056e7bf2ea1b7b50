"""In headless Chromium: the dashboard's plots and table follow a filter."""
import pytest
from playwright.sync_api import expect

from tests.conftest import log_in, screenshot, wait_for_plots
from tests.dashboard.cohort import seed_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def expect_plot_links(page, name: str, count: int) -> None:
    wait_for_plots(page)
    expect(page.locator(f"#plot-{name} svg a")).to_have_count(count)


def test_a_filter_changes_the_plots_and_the_table(page, investigator, study):
    seed_cohort(study)
    log_in(page, investigator.username)
    page.goto(f"/studies/{study.pk}/")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#dataset tr")).to_have_count(13)  # header + 12 patients
    expect_plot_links(page, "groups", 2 * 12)  # motor and control panels
    expect_plot_links(page, "scatter", 12)
    expect(page.locator("#section-spasticity")).to_contain_text("0.00253", use_inner_text=True)  # 2 / 792, exact
    screenshot(page, "dashboard-all")

    page.select_option("#filters select[name=diagnosis]", ["PLS"])
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**diagnosis=PLS**")
    expect(page.locator("#dataset tr")).to_have_count(4)
    expect_plot_links(page, "groups", 2 * 3)
    expect(page.locator("#plot-paired")).to_contain_text("n=3", use_inner_text=True)
    # Shown as text: the "<" is escaped, not taken for markup.
    expect(page.locator("body")).to_contain_text("has 3 patients (<5): treat the p-value as exploratory")
    screenshot(page, "dashboard-pls")

    first = page.locator("#plot-scatter svg a").first
    href = first.get_attribute("xlink:href") or first.get_attribute("href")
    assert f"/studies/{study.pk}/patients/" in href
