from django.urls import path

from . import tus, views

urlpatterns = [
    path("", views.home, name="home"),
    path("import-template.csv", views.import_template, name="import_template"),
    path("studies/<id:study_id>/", views.study, name="study"),
    path("studies/<id:study_id>/import/", views.import_clinical, name="import_clinical"),
    path("studies/<id:study_id>/redcap/data.csv", views.redcap_data, name="redcap_data"),
    path("studies/<id:study_id>/redcap/dictionary.csv", views.redcap_dictionary, name="redcap_dictionary"),
    path("studies/<id:study_id>/patients/new/", views.patient_new, name="patient_new"),
    path("studies/<id:study_id>/patients/<id:patient_id>/", views.patient, name="patient"),
    path("studies/<id:study_id>/patients/<id:patient_id>/edit/", views.patient_edit, name="patient_edit"),
    path("studies/<id:study_id>/patients/<id:patient_id>/exams/new/", views.exam_new, name="exam_new"),
    path(
        "studies/<id:study_id>/patients/<id:patient_id>/exams/<id:exam_id>/edit/",
        views.exam_edit,
        name="exam_edit",
    ),
    path("studies/<id:study_id>/patients/<id:patient_id>/scans/new/", views.scan_upload, name="scan_upload"),
    path("studies/<id:study_id>/ingests/<uuid:ingest_uid>/", views.ingest, name="ingest"),
    path("studies/<id:study_id>/scans/<id:scan_id>/", views.scan, name="scan"),
    path("studies/<id:study_id>/scans/<id:scan_id>/files/<str:kind>", views.scan_file, name="scan_file"),
    # Resumable uploads (tus): the page's JavaScript and API clients send exams file by file, in chunks.
    path("uploads/tus/", tus.uploads, name="tus_uploads"),
    path("uploads/tus/<str:upload_id>", tus.upload, name="tus_upload"),
]
