"""Delete uploads kept after refused forms once they are a day old (run daily, e.g. from cron)."""
from django.core.management.base import BaseCommand

from clinical.held import remove_expired


class Command(BaseCommand):
    help = "Delete held scan uploads older than a day."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Removed {remove_expired()} held uploads.")
