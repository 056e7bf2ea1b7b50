from django.urls import path, re_path

from . import views

urlpatterns = [
    path("studies/<id:study_id>/dashboard/", views.dashboard, name="dashboard"),
    path("studies/<id:study_id>/dashboard/dataset.csv", views.dataset_csv, name="dataset_csv"),
    re_path(r"^studies/(?P<study_id>\d{1,18})/dashboard/plots/(?P<name>groups|paired|scatter)\.(?P<fmt>svg|png)$",
            views.plot, name="plot"),
    path("studies/<id:study_id>/dashboard/import-roi-values/", views.import_values, name="import_roi_values"),
    path("api/studies/<id:study_id>/analysis", views.analysis_api, name="analysis_api"),
]
