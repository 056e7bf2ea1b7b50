from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dashboard.demo import DEMO_STUDY, seed_demo


class Command(BaseCommand):
    help = f"Create the synthetic '{DEMO_STUDY}' study (9 ALS, 3 PLS phantom patients) for a user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="the demo study's coordinator")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'; create it first (manage.py createsuperuser).")
        study = seed_demo(user, say=self.stdout.write)
        if study is None:
            self.stdout.write(f"'{DEMO_STUDY}' already exists; nothing done.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Created '{DEMO_STUDY}'; a worker reconstructs its scans."))
