"""Routes of the REST API (api/v1), its schema and its pages.

API routes authenticate with a token or the session (DRF answers 401/403 JSON), so they are exempt
from the login redirect of LoginRequiredMiddleware; the token and docs pages keep it. ``<id:...>`` is the
bounded id converter every app's routes use (clinical/converters.py).
"""
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.urls import path, re_path


from . import pages, transfers, views

app_name = "api"


STUDY = "api/v1/studies/<id:study_id>/"


def api(viewset, actions: dict[str, str] | None = None):
    """A DRF view open to tokens (DRF's own IsAuthenticated decides)."""
    return login_not_required(viewset.as_view(actions) if actions else viewset.as_view())


urlpatterns = [
    path("api/v1/", api(views.RootView), name="root"),
    path("api/schema", api(views.SchemaView), name="schema"),
    path("api/docs", pages.docs, name="docs"),
    path("api/token", pages.token, name="token"),
    path("api/v1/studies/", api(views.StudyViewSet, {"get": "list"}), name="study-list"),
    path(STUDY, api(views.StudyViewSet, {"get": "retrieve"}), name="study-detail"),
    path(STUDY + "patients/", api(views.PatientViewSet, {"get": "list", "post": "create"}), name="patient-list"),
    path(STUDY + "patients/<id:patient_id>/", api(views.PatientViewSet, {"get": "retrieve", "patch": "partial_update"}),
         name="patient-detail"),
    path(STUDY + "patients/<id:patient_id>/history/", api(views.PatientViewSet, {"get": "history"}),
         name="patient-history"),
    path(STUDY + "exams/", api(views.ExamViewSet, {"get": "list", "post": "create"}), name="exam-list"),
    path(STUDY + "exams/<id:exam_id>/", api(views.ExamViewSet, {"get": "retrieve", "patch": "partial_update"}),
         name="exam-detail"),
    # Uploads run outside the request transaction, like the upload page: receive() commits files and row itself.
    path(STUDY + "scans/", transaction.non_atomic_requests(api(views.ScanViewSet, {"get": "list", "post": "create"})),
         name="scan-list"),
    path(STUDY + "scans/<id:scan_id>/", api(views.ScanViewSet, {"get": "retrieve"}), name="scan-detail"),
    path(STUDY + "ingests/<uuid:ingest_uid>", api(views.IngestViewSet, {"get": "retrieve"}), name="ingest-detail"),
    path(STUDY + "scans/<id:scan_id>/files/<str:kind>", api(views.ScanViewSet, {"get": "file"}), name="scan-file"),
    path(STUDY + "runs/", api(views.RunViewSet, {"get": "list", "post": "create"}), name="run-list"),
    path(STUDY + "runs/<id:run_id>/", api(views.RunViewSet, {"get": "retrieve"}), name="run-detail"),
    path(STUDY + "runs/<id:run_id>/cancel", api(views.RunViewSet, {"post": "cancel"}), name="run-cancel"),
    path(STUDY + "runs/<id:run_id>/retry", api(views.RunViewSet, {"post": "retry"}), name="run-retry"),
    path(STUDY + "runs/<id:run_id>/make-current", api(views.RunViewSet, {"post": "make_current"}),
         name="run-make-current"),
    path(STUDY + "runs/<id:run_id>/files/<str:kind>", api(views.RunViewSet, {"get": "file"}), name="run-file"),
    path(STUDY + "rois/", api(views.RoiViewSet, {"get": "list"}), name="roi-list"),
    path(STUDY + "rois/sphere", api(views.RoiViewSet, {"post": "sphere"}), name="roi-sphere"),
    path(STUDY + "rois/upload", api(views.RoiViewSet, {"post": "upload"}), name="roi-upload"),
    path(STUDY + "rois/<id:roi_id>/", api(views.RoiViewSet, {"get": "retrieve"}), name="roi-detail"),
    path(STUDY + "rois/<id:roi_id>/mask", api(views.RoiViewSet, {"get": "mask"}), name="roi-mask"),
    path(STUDY + "roi-values/", api(views.RoiValueViewSet, {"get": "list"}), name="roivalue-list"),
    path(STUDY + "analysis", api(views.AnalysisView), name="analysis"),
    path(STUDY + "import/clinical", api(transfers.TransferViewSet, {"post": "clinical_import"}),
         name="import-clinical"),
    path(STUDY + "import/roi-values", api(transfers.TransferViewSet, {"post": "roi_values_import"}),
         name="import-roi-values"),
    # Like the BIDS import page: streamed to MEDIA_ROOT/.incoming, with no transaction open while it arrives.
    path(STUDY + "import/bids",
         transaction.non_atomic_requests(api(transfers.TransferViewSet, {"post": "bids_import"})),
         name="import-bids"),
    path(STUDY + "export/redcap-records", api(transfers.TransferViewSet, {"get": "redcap_records"}),
         name="export-redcap-records"),
    path(STUDY + "export/redcap-dictionary", api(transfers.TransferViewSet, {"get": "redcap_dictionary"}),
         name="export-redcap-dictionary"),
    path(STUDY + "export/dataset", api(transfers.TransferViewSet, {"get": "dataset"}), name="export-dataset"),
    path(STUDY + "export/bids", api(transfers.TransferViewSet, {"post": "bids_export"}), name="export-bids"),
    path(STUDY + "transfers/<uuid:transfer_uid>", api(transfers.TransferViewSet, {"get": "transfer"}),
         name="transfer-detail"),
    path(STUDY + "transfers/<uuid:transfer_uid>/download", api(transfers.TransferViewSet, {"get": "transfer_download"}),
         name="transfer-download"),
    # Anything else under api/v1 answers JSON too (not the login page or an HTML 404).
    re_path(r"^api/v1/", api(views.NotFoundView), name="not-found"),
]
