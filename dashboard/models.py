"""ROI values measured outside qsmstudy and imported from CSV (docs/roi-import.md)."""
from django.conf import settings
from django.db import models

from clinical.models import Patient


class ExternalRoiValue(models.Model):
    """One ROI mean (ppb) for a patient's scan date, from another tool. Values from qsmstudy's own
    current runs take precedence for the same patient and scan date."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="external_roi_values")
    scan_date = models.DateField()
    roi_name = models.CharField(max_length=20)
    value_ppb = models.FloatField()
    source = models.CharField(max_length=200)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "scan_date", "roi_name"], name="one_external_value")
        ]
