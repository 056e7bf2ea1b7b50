from django.urls import path

from . import views

urlpatterns = [
    path("studies/<id:study_id>/bids/", views.bids_page, name="bids"),
    path("studies/<id:study_id>/bids/export.zip", views.export_zip, name="bids_export"),
    path("studies/<id:study_id>/bids/import/", views.import_page, name="bids_import"),
]
