"""The exam form names the 12 ALSFRS-R items (Cedarbaum 1999) instead of numbering them only."""
from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

NAMES = ["Speech", "Salivation", "Swallowing", "Handwriting", "Cutting food and handling utensils",
         "Dressing and hygiene", "Turning in bed", "Walking", "Climbing stairs", "Dyspnea", "Orthopnea",
         "Respiratory insufficiency"]


def test_the_exam_form_shows_each_item_by_name(as_coordinator, study, patient):
    body = as_coordinator.get(reverse("exam_new", args=[study.pk, patient.pk])).content.decode()
    for item, name in enumerate(NAMES, start=1):
        assert f'<label for="id_alsfrs_{item}">{item}. {name}:</label>' in body
    assert "ALSFRS-R item 1:" not in body
