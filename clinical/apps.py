from django.apps import AppConfig
from django.urls import register_converter


class ClinicalConfig(AppConfig):
    name = "clinical"
    verbose_name = "Clinical records"

    def ready(self) -> None:
        from .converters import IdConverter

        register_converter(IdConverter, "id")
