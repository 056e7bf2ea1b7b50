from django.apps import AppConfig


class ReconConfig(AppConfig):
    name = "recon"
    verbose_name = "QSM reconstruction"

    def ready(self) -> None:
        from clinical.panels import register_patient_panel, register_scan_panel, register_study_link
        from clinical.scans import register_scan_stored

        from .tasks import queue_first_run  # importing tasks also registers them and the worker_ready hook
        from .views import patient_rois_panel, rois_panel, runs_panel

        register_scan_stored(queue_first_run)
        register_scan_panel(runs_panel)
        register_scan_panel(rois_panel)
        register_patient_panel(patient_rois_panel)
        register_study_link("Reconstruction jobs", "jobs")
