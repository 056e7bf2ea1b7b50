from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinical.management.imports import import_target
from exchange.importer import BidsImportError, import_bids


class Command(BaseCommand):
    help = "Import a BIDS dataset zip into a study (all or nothing). See docs/bids.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="BIDS dataset zip")
        parser.add_argument("--user", help="username recorded as uploader and in the audit history")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        target, account = import_target(study, file, user)
        try:
            result = import_bids(target, file, user=account)
        except BidsImportError as exc:
            for problem in exc.problems:
                self.stderr.write(f"{file.name}: {problem}")
            raise CommandError(f"{len(exc.problems)} problem(s) in {file.name}; nothing was imported.") from exc
        for note in result.notes:
            self.stdout.write(f"{file.name}: {note}")
        self.stdout.write(self.style.SUCCESS(f"{file.name}: {result.summary()}"))
