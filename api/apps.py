from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API: the top of the import graph (api -> exchange -> dashboard -> recon -> clinical)."""

    name = "api"
    verbose_name = "REST API"
