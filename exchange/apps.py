from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    """BIDS export and import: above dashboard, recon and clinical, which never import it."""

    name = "exchange"
    verbose_name = "BIDS exchange"

    def ready(self) -> None:
        from clinical.panels import register_study_link
        from recon.sweep import register_sweeper

        from . import transfers

        register_study_link("BIDS export / import", "bids")
        register_sweeper(transfers.sweep)
