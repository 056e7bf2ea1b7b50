from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The cohort dashboard: sits above clinical and recon and imports both (neither imports it)."""

    name = "dashboard"
    verbose_name = "Cohort dashboard"

    def ready(self) -> None:
        from clinical.panels import register_study_link

        register_study_link("Dashboard", "dashboard")
