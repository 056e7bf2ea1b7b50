"""`manage.py sweep`: re-send lost reconstruction runs and remove old leftovers (for cron; see recon.sweep)."""
from django.core.management.base import BaseCommand

from recon.sweep import sweep


class Command(BaseCommand):
    help = "Re-send queued runs whose message was lost and stale running runs; remove old upload and staging leftovers."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"sweep: {sweep()}")
