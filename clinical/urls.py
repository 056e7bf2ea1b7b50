from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("import-template.csv", views.import_template, name="import_template"),
    path("studies/<int:study_id>/", views.study, name="study"),
    path("studies/<int:study_id>/import/", views.import_clinical, name="import_clinical"),
    path("studies/<int:study_id>/redcap/data.csv", views.redcap_data, name="redcap_data"),
    path("studies/<int:study_id>/redcap/dictionary.csv", views.redcap_dictionary, name="redcap_dictionary"),
    path("studies/<int:study_id>/patients/new/", views.patient_new, name="patient_new"),
    path("studies/<int:study_id>/patients/<int:patient_id>/", views.patient, name="patient"),
    path("studies/<int:study_id>/patients/<int:patient_id>/edit/", views.patient_edit, name="patient_edit"),
    path("studies/<int:study_id>/patients/<int:patient_id>/exams/new/", views.exam_new, name="exam_new"),
    path(
        "studies/<int:study_id>/patients/<int:patient_id>/exams/<int:exam_id>/edit/",
        views.exam_edit,
        name="exam_edit",
    ),
    path("studies/<int:study_id>/patients/<int:patient_id>/scans/new/", views.scan_upload, name="scan_upload"),
    path("studies/<int:study_id>/scans/<int:scan_id>/", views.scan, name="scan"),
    path("studies/<int:study_id>/scans/<int:scan_id>/files/<str:kind>", views.scan_file, name="scan_file"),
]
