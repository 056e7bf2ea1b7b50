from django.urls import path

from . import views

TRANSFER = "studies/<id:study_id>/bids/transfers/<uuid:uid>/"

urlpatterns = [
    path("studies/<id:study_id>/bids/", views.bids_page, name="bids"),
    path("studies/<id:study_id>/bids/export/", views.export_start, name="bids_export"),
    path("studies/<id:study_id>/bids/import/", views.import_page, name="bids_import"),
    path(TRANSFER, views.transfer_page, name="bids_transfer"),
    path(TRANSFER + "status", views.transfer_status, name="bids_transfer_status"),
    path(TRANSFER + "download", views.transfer_download, name="bids_download"),
]
