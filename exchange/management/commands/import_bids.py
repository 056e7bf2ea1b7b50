from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinical.models import Study
from exchange.importer import BidsImportError, import_bids


class Command(BaseCommand):
    help = "Import a BIDS dataset zip into a study (all or nothing). See docs/bids.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="BIDS dataset zip")
        parser.add_argument("--user", help="username recorded as uploader and in the audit history")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        target = Study.objects.by_id_or_name(study)
        if target is None:
            raise CommandError(f"No study '{study}': give its id or exact name (see the admin's study list).")
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        account = get_user_model().objects.filter(username=user).first() if user else None
        if user and account is None:
            raise CommandError(f"No user '{user}'.")
        try:
            result = import_bids(target, file, user=account)
        except BidsImportError as exc:
            for problem in exc.problems:
                self.stderr.write(f"{file.name}: {problem}")
            raise CommandError(f"{len(exc.problems)} problem(s) in {file.name}; nothing was imported.") from exc
        for note in result.notes:
            self.stdout.write(f"{file.name}: {note}")
        self.stdout.write(self.style.SUCCESS(f"{file.name}: {result.summary()}"))
