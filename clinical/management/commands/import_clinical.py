from pathlib import Path

from django.core.management.base import BaseCommand

from clinical.importer import import_clinical_csv
from clinical.management.imports import run_import


class Command(BaseCommand):
    help = "Import patients and exams from a CSV into a study (all rows or none). See docs/clinical-import.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="CSV file (UTF-8)")
        parser.add_argument("--user", help="username recorded in the audit history")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        run_import(self, import_clinical_csv, study, file, user)
