from pathlib import Path

from django.core.management.base import BaseCommand

from clinical.management.imports import run_import
from dashboard.importer import import_roi_values


class Command(BaseCommand):
    help = "Import ROI values (ppb) measured elsewhere: patient_code, scan_date, roi, value_ppb. All rows or none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="CSV file (UTF-8), see docs/roi-import.md")
        parser.add_argument("--user", help="username recorded as the importer")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        run_import(self, import_roi_values, study, file, user)
