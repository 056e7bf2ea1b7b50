from django.urls import path

from . import views

urlpatterns = [
    path("studies/<id:study_id>/jobs/", views.jobs_page, name="jobs"),
    path("studies/<id:study_id>/jobs/status.json", views.study_status, name="jobs_status"),
    path("studies/<id:study_id>/scans/<id:scan_id>/runs/new", views.run_new, name="run_new"),
    path("studies/<id:study_id>/runs/<id:run_id>/status.json", views.run_status, name="run_status"),
    path("studies/<id:study_id>/runs/<id:run_id>/files/<str:kind>", views.run_file, name="run_file"),
    path("studies/<id:study_id>/runs/<id:run_id>/<str:action>", views.run_action, name="run_action"),
]

urlpatterns += [
    path("studies/<id:study_id>/scans/<id:scan_id>/viewer/", views.viewer, name="viewer"),
    path("studies/<id:study_id>/scans/<id:scan_id>/viewer/background.nii.gz", views.viewer_background,
         name="viewer_background"),
    path("studies/<id:study_id>/scans/<id:scan_id>/rois/labels.nii.gz", views.roi_drawing, name="roi_drawing"),
    path("studies/<id:study_id>/scans/<id:scan_id>/rois/upload", views.roi_upload, name="roi_upload"),
    path("studies/<id:study_id>/scans/<id:scan_id>/rois/sphere", views.roi_sphere, name="roi_sphere"),
    path("studies/<id:study_id>/rois/<id:roi_id>.nii.gz", views.roi_file, name="roi_file"),
]
