from django.urls import path

from . import views

urlpatterns = [
    path("studies/<int:study_id>/jobs/", views.jobs_page, name="jobs"),
    path("studies/<int:study_id>/jobs/status.json", views.study_status, name="jobs_status"),
    path("studies/<int:study_id>/scans/<int:scan_id>/runs/new", views.run_new, name="run_new"),
    path("studies/<int:study_id>/runs/<int:run_id>/status.json", views.run_status, name="run_status"),
    path("studies/<int:study_id>/runs/<int:run_id>/files/<str:kind>", views.run_file, name="run_file"),
    path("studies/<int:study_id>/runs/<int:run_id>/<str:action>", views.run_action, name="run_action"),
]
