from django.apps import AppConfig
from django.db.models.signals import post_save


class ReconConfig(AppConfig):
    name = "recon"
    verbose_name = "QSM reconstruction"

    def ready(self) -> None:
        from clinical.models import ScanSession
        from clinical.panels import register_patient_panel, register_scan_panel, register_study_link

        from . import tasks  # noqa: F401  (registers the tasks and the worker_ready hook)
        from .views import patient_rois_panel, rois_panel, runs_panel

        post_save.connect(_queue_first_run, sender=ScanSession, dispatch_uid="recon.queue_first_run")
        register_scan_panel(runs_panel)
        register_scan_panel(rois_panel)
        register_patient_panel(patient_rois_panel)
        register_study_link("Reconstruction jobs", "jobs")


def _queue_first_run(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """Every new scan gets a reconstruction with the default parameters."""
    if created and not raw:
        from .jobs import queue_run

        queue_run(instance, user=instance.uploaded_by)
