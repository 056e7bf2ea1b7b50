import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinical.models import Study
from dashboard.dataset import Filters
from exchange.export import Selection, export_study


class Command(BaseCommand):
    help = "Export a study (or a selection) as a BIDS dataset zip. See docs/bids.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="zip file to write")
        parser.add_argument("--diagnosis", action="append", default=[], help="ALS, PLS, HC or MND (repeatable)")
        parser.add_argument("--patient", action="append", default=[], help="study code (repeatable)")
        parser.add_argument("--site", default="", help="sessions whose site contains this text")
        parser.add_argument("--date-from", type=dt.date.fromisoformat, help="sessions on or after YYYY-MM-DD")
        parser.add_argument("--date-to", type=dt.date.fromisoformat, help="sessions on or before YYYY-MM-DD")
        parser.add_argument("--max-gap", type=int, help="sessions within this many days of an exam")

    def handle(self, *args, study: str, file: Path, **options) -> None:
        target = Study.objects.by_id_or_name(study)
        if target is None:
            raise CommandError(f"No study '{study}': give its id or exact name (see the admin's study list).")
        selection = Selection(
            Filters(diagnoses=options["diagnosis"], site=options["site"], date_from=options["date_from"],
                    date_to=options["date_to"], max_gap_days=options["max_gap"]),
            options["patient"])
        if not selection.patients(target).exists():
            raise CommandError("No patient matches this selection; widen the filters.")
        partial = file.with_name(f".{file.name}.partial")
        try:
            with partial.open("wb") as out:
                summary = export_study(target, selection, out)
            partial.replace(file)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(self.style.SUCCESS(f"{file}: {summary}"))
