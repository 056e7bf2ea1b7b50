"""What the import commands share: find the study and user, run the importer, report like the web page."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinical.models import Study


def import_target(study: str, file: Path, user: str | None) -> tuple[Study, object | None]:
    """The study (by id or exact name) and the user an import command names; CommandError if either is missing."""
    target = Study.objects.by_id_or_name(study)
    if target is None:
        raise CommandError(f"No study '{study}': give its id or exact name (see the admin's study list).")
    if not file.is_file():
        raise CommandError(f"{file}: no such file.")
    account = get_user_model().objects.filter(username=user).first() if user else None
    if user and account is None:
        raise CommandError(f"No user '{user}'.")
    return target, account


def run_import(command: BaseCommand, importer: Callable, study: str, file: Path, user: str | None) -> None:
    """Call importer(study, data, filename=, user=) and print its summary, or its problems and fail."""
    target, account = import_target(study, file, user)
    result = importer(target, file.read_bytes(), filename=file.name, user=account)
    if not result.ok:
        for problem in result.errors:
            command.stderr.write(f"{file.name}: {problem}")
        raise CommandError(f"{len(result.errors)} problem(s) in {file.name}; nothing was imported.")
    command.stdout.write(command.style.SUCCESS(f"{file.name}: {result.summary()}"))
