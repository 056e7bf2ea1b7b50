"""In headless Chromium: a page and everything it loads (the favicon included) answer without a 404."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_request_of_a_page_fails(page, coordinator, study, patient):
    failed: list[str] = []
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    log_in(page, coordinator.username)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    for url in (f"/studies/{study.pk}/", patient.get_absolute_url()):
        page.goto(url)
        expect(page.locator("h1")).to_be_visible()
        icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
        assert icon == 200
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200  # what bots ask for, redirected
    assert failed == []
