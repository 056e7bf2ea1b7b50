"""Export a study, or a selection of it, as a BIDS dataset zip (layout and dictionary: docs/bids.md).

The zip is written member by member to a file the caller owns (a job's file under MEDIA_ROOT/exports,
see exchange.transfers), and each echo is written on its own, so memory stays at one echo however big
the study is.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import BinaryIO

import nibabel as nib
import numpy as np
from django.db.models import QuerySet
from django.utils.text import slugify

from clinical.models import Exam, Patient, Role, ScanSession, Study
from dashboard.dataset import Filters
from dashboard.models import ExternalRoiValue
from recon import rois
from recon.models import ReconRun, RoiDefinition, RoiValue

from . import bids

_NIFTI_SCANNER_XFORM = 1
#: Sidecar keys copied from the stored (de-identified) scan.json into each echo's sidecar.
ACQUISITION_KEYS = ("ProtocolName", "SeriesDescription", "SeriesNumber", "RepetitionTime", "FlipAngle",
                    "ImagingFrequency", "MRAcquisitionType", "SliceThickness")
#: Sidecar keys filled from the scanner facts the upload stored on the session (from its headers).
SCANNER_KEYS = {"Manufacturer": "manufacturer", "ManufacturersModelName": "model_name",
                "SoftwareVersions": "software_version", "SequenceName": "sequence_name"}
#: Long tables (one row per exam or value, with their dictionaries) that BIDS phenotype files cannot hold yet:
#: the validator requires one row per participant there (docs/bids.md, "Validation").
LONG_PHENOTYPE = [f"phenotype/{table}.{extension}" for table in (bids.EXAMS_TABLE, bids.EXTERNAL_TABLE)
                  for extension in ("tsv", "json")]
ROI_STAT_COLUMNS = [f"{key}_ppb" for key in RoiValue.STATISTICS]


@dataclass
class Selection:
    """What to export: the dashboard's filters plus an optional list of patients (study codes).

    Diagnosis and patient codes choose participants; site, scan-date range and maximum exam-scan gap choose
    their sessions. With any session filter, participants left with no session are left out.
    """

    filters: Filters = field(default_factory=Filters)
    patient_codes: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query) -> "Selection":
        return cls(Filters.from_query(query), [c for c in query.getlist("patient") if c])

    @classmethod
    def from_dict(cls, stored: dict) -> "Selection":
        """The selection a job stored with ``as_dict``."""
        def date(name: str) -> dt.date | None:
            return dt.date.fromisoformat(stored[name]) if stored.get(name) else None

        filters = Filters(diagnoses=stored.get("diagnosis", []), site=stored.get("site", ""),
                          date_from=date("date_from"), date_to=date("date_to"), max_gap_days=stored.get("max_gap"))
        return cls(filters, stored.get("patient", []))

    def as_dict(self) -> dict:
        return {**self.filters.as_dict(), "patient": self.patient_codes}

    @property
    def filters_sessions(self) -> bool:
        f = self.filters
        return bool(f.site or f.date_from or f.date_to or f.max_gap_days is not None)

    def patients(self, study: Study) -> QuerySet[Patient]:
        patients = Patient.objects.filter(study=study)
        if self.filters.diagnoses:
            patients = patients.filter(diagnosis__in=self.filters.diagnoses)
        if self.patient_codes:
            patients = patients.filter(code__in=self.patient_codes)
        return patients.order_by("code")

    def keeps(self, scan: ScanSession, exam_dates: list[dt.date]) -> bool:
        f = self.filters
        if f.site and f.site.lower() not in scan.site.lower():
            return False
        if (f.date_from and scan.scan_date < f.date_from) or (f.date_to and scan.scan_date > f.date_to):
            return False
        if f.max_gap_days is not None:
            gaps = [abs((d - scan.scan_date).days) for d in exam_dates]
            return bool(gaps) and min(gaps) <= f.max_gap_days
        return True

    def describe(self) -> str:
        chosen = {k: v for k, v in self.filters.as_dict().items() if v not in (None, "", [])}
        if self.patient_codes:
            chosen["patients"] = sorted(self.patient_codes)
        return ", ".join(f"{k}={v}" for k, v in chosen.items()) or "the whole study"


@dataclass
class ExportSummary:
    name: str
    participants: int = 0
    sessions: int = 0
    with_derivatives: int = 0

    def __str__(self) -> str:
        return (f"{self.participants} participants, {self.sessions} sessions "
                f"({self.with_derivatives} with QSM derivatives)")


@dataclass
class _Session:
    scan: ScanSession
    subject: str
    label: str

    @property
    def prefix(self) -> str:
        return f"sub-{self.subject}_ses-{self.label}"

    @property
    def folder(self) -> str:
        return f"sub-{self.subject}/ses-{self.label}/anat"


def dataset_name(study: Study) -> str:
    return f"{slugify(study.name) or 'study'}-bids"


def export_study(study: Study, selection: Selection, destination: BinaryIO,
                 progress: Callable[[str, float], None] | None = None) -> ExportSummary:
    """Write the selected part of the study as a BIDS zip (one top folder).

    Parameters
    ----------
    study : Study
        The study to export.
    selection : Selection
        Which participants and sessions.
    destination : binary file
        Where the zip is written; it must be seekable.
    progress : callable, optional
        ``progress(stage, fraction)``, told of each session written (raw data, then derivatives).

    Returns
    -------
    ExportSummary
        The dataset's name and how many participants and sessions it holds.
    """
    report = progress or (lambda stage, fraction: None)
    report("reading the study", 0)
    patients = list(selection.patients(study).prefetch_related("exams", "scans"))
    chosen = {p.pk: sorted((s for s in p.scans.all() if selection.keeps(s, [e.date for e in p.exams.all()])),
                           key=lambda s: (s.scan_date, s.created_at)) for p in patients}
    if selection.filters_sessions:
        patients = [p for p in patients if chosen[p.pk]]
    labels = bids.participant_labels([p.code for p in patients])
    sessions = [_Session(scan, labels[p.code], label) for p in patients
                for scan, label in zip(chosen[p.pk], bids.session_labels([s.scan_date for s in chosen[p.pk]]))]
    summary = ExportSummary(dataset_name(study), participants=len(patients), sessions=len(sessions))
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        writer = _Writer(archive, summary.name)
        writer.json("dataset_description.json", _description(study, "raw"))
        writer.text("README.md", _readme(study, selection, summary))
        writer.text(".bidsignore", "".join(f"{path}\n" for path in LONG_PHENOTYPE))
        writer.tsv("participants.tsv", _participant_columns(), _participant_rows(patients, labels, chosen))
        writer.json("participants.json", bids.participants_dictionary())
        _write_phenotype(writer, patients, labels)
        writer.json("sessions.json", bids.sessions_dictionary())
        for patient in patients:
            subject = labels[patient.code]
            rows = [{"session_id": f"ses-{s.label}", **_session_row(s.scan)} for s in sessions if s.subject == subject]
            writer.tsv(f"sub-{subject}/sub-{subject}_sessions.tsv", bids.SESSION_COLUMNS, rows)
        # Raw data is most of the zip: its sessions take the first 80 % of the progress.
        for done, session in enumerate(sessions):
            report("writing scans", 0.8 * done / len(sessions))
            _write_raw(writer, session)
        writer.json("derivatives/qsmstudy/dataset_description.json", _description(study, "derivative"))
        writer.text("derivatives/qsmstudy/README.md", _derivatives_readme(study))
        writer.json("derivatives/qsmstudy/desc-rois_dseg.json", _dseg_dictionary())
        for done, session in enumerate(sessions):
            report("writing derivatives", 0.8 + 0.2 * done / len(sessions))
            summary.with_derivatives += _write_derivatives(writer, session, study.roi_labels)
    report("written", 1)
    return summary


class _Writer:
    """Members under the dataset's top folder: text deflated, NIfTI (already gzipped) stored."""

    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        self.archive, self.root = archive, root

    def text(self, name: str, text: str) -> None:
        self.archive.writestr(f"{self.root}/{name}", text.encode("utf-8"))

    def json(self, name: str, data: dict) -> None:
        self.text(name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def tsv(self, name: str, columns: list[str], rows: list[dict]) -> None:
        self.archive.writestr(f"{self.root}/{name}", bids.write_tsv(columns, rows))

    def nifti(self, name: str, image: nib.Nifti1Image) -> None:
        with self.member(name) as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=4, mtime=0) as gz:
            gz.write(image.to_bytes())

    def copy(self, name: str, path) -> None:
        with path.open("rb") as source, self.member(name) as out:
            shutil.copyfileobj(source, out, 1 << 20)

    def member(self, name: str):
        info = zipfile.ZipInfo(f"{self.root}/{name}", date_time=dt.datetime.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED
        return self.archive.open(info, "w", force_zip64=True)


def _description(study: Study, kind: str) -> dict:
    description = {
        "Name": study.name if kind == "raw" else f"{study.name}: QSM reconstructions and ROI values",
        "BIDSVersion": bids.BIDS_VERSION,
        "DatasetType": kind,
        "Authors": _authors(study),
        "GeneratedBy": [{"Name": bids.PIPELINE, "Version": version("qsmstudy"),
                         "Description": "BIDS export of a qsmstudy study" if kind == "raw"
                         else "QSM (qsm) of the current reconstruction run and ROI statistics"}],
    }
    if kind == "derivative":
        description["DatasetLinks"] = {"raw": "../../"}
    return description


def _authors(study: Study) -> list[str]:
    """The study's coordinators and investigators, who collect and curate its data (full name, else user name)."""
    members = study.memberships.filter(role__in=[Role.COORDINATOR, Role.INVESTIGATOR]).select_related("user")
    return sorted(m.user.get_full_name() or m.user.get_username() for m in members)


def _derivatives_readme(study: Study) -> str:
    return (
        f"# {study.name}: QSM derivatives\n\nFor each session of the raw dataset (../../), qsmstudy's current "
        "reconstruction run: the susceptibility map (Chimap, ppm, zero outside the brain mask), the brain mask "
        "it used, and the study's ROIs as one label map (dseg; labels and ROI values in ppb in each dseg.tsv, "
        "columns in desc-rois_dseg.json). Every image is on its session's raw grid. Chimap.json gives the "
        "reconstruction parameters and the reference region.\n"
    )


def _readme(study: Study, selection: Selection, summary: ExportSummary) -> str:
    return (
        f"# {study.name}\n\n{study.description}\n\nExported from qsmstudy on {dt.date.today():%Y-%m-%d}: "
        f"{selection.describe()}; {summary.participants} participants, {summary.sessions} sessions.\n"
        f"Site: {study.site or 'n/a'}. Protocol field strength: {study.field_strength_t} T. "
        f"ROI labels: {', '.join(study.roi_labels)}.\n\n"
        "Participants are pseudonymous study codes (participants.tsv, column study_code); participant_id is the "
        "code's letters and digits. Dated clinical exams are in phenotype/exams.tsv. Multi-echo GRE magnitude "
        "and phase (radians) are per echo under sub-*/ses-*/anat; derivatives/qsmstudy holds each session's "
        "current susceptibility map (Chimap, ppm), brain mask, ROI label map (dseg) and ROI values (ppb).\n"
    )


def _participant_columns() -> list[str]:
    return ["participant_id", bids.CODE_COLUMN, *bids.PATIENT_FIELDS, bids.AGE_COLUMN]


def _participant_rows(patients: list[Patient], labels: dict[str, str], chosen: dict) -> list[dict]:
    rows = []
    for patient in patients:
        row = {name: getattr(patient, name) for name in bids.PATIENT_FIELDS}
        row["onset_month"] = f"{patient.onset_month:%Y-%m}" if patient.onset_month else None
        first = chosen[patient.pk][0].scan_date if chosen[patient.pk] else None
        age = first.year - patient.birth_year if first and patient.birth_year else None
        rows.append({"participant_id": f"sub-{labels[patient.code]}", bids.CODE_COLUMN: patient.code,
                     **row, bids.AGE_COLUMN: age})
    return rows


def _write_phenotype(writer: _Writer, patients: list[Patient], labels: dict[str, str]) -> None:
    by_id = {p.pk: f"sub-{labels[p.code]}" for p in patients}
    exams = Exam.objects.filter(patient__in=patients).order_by("patient__code", "date")
    columns = ["participant_id", bids.EXAM_DATE_COLUMN, *bids.EXAM_FIELDS, *bids.DERIVED_EXAM_FIELDS]
    rows = [{"participant_id": by_id[e.patient_id], bids.EXAM_DATE_COLUMN: e.date,
             **{name: getattr(e, name) for name in columns[2:]}} for e in exams]
    writer.tsv(f"phenotype/{bids.EXAMS_TABLE}.tsv", columns, rows)
    writer.json(f"phenotype/{bids.EXAMS_TABLE}.json", bids.exams_dictionary())
    external = ExternalRoiValue.objects.filter(patient__in=patients).order_by("patient__code", "scan_date", "roi_name")
    if external.exists():
        rows = [{"participant_id": by_id[v.patient_id], "scan_date": v.scan_date, "roi": v.roi_name,
                 "value_ppb": v.value_ppb, "source": v.source} for v in external]
        writer.tsv(f"phenotype/{bids.EXTERNAL_TABLE}.tsv", bids.EXTERNAL_COLUMNS, rows)
        writer.json(f"phenotype/{bids.EXTERNAL_TABLE}.json", bids.external_dictionary())


def _session_row(scan: ScanSession) -> dict:
    return {"scan_date": scan.scan_date, "scanner": scan.scanner, "site": scan.site,
            "field_strength_t": scan.field_strength_t, "protocol_name": scan.protocol_name,
            "pixel_sha256": scan.pixel_sha256}


def _acquisition(scan: ScanSession) -> dict:
    """What the upload kept of the acquisition: scanner facts, the stored sidecar's keys, the field strength.

    Only what de-identification let through: no institution, station or serial number, and no acquisition
    date or time (``scan.acquired_at`` is not exported; the session label carries the scan date).
    """
    stored = json.loads(scan.path("sidecar").read_text(encoding="utf-8")) if scan.path("sidecar").exists() else {}
    sidecar = {key: getattr(scan, field) for key, field in SCANNER_KEYS.items() if getattr(scan, field)}
    sidecar |= {key: stored[key] for key in ACQUISITION_KEYS if stored.get(key) not in (None, "")}
    if scan.field_strength_t is not None:
        sidecar["MagneticFieldStrength"] = float(scan.field_strength_t)
    # qsmstudy reconstructs gradient-echo magnitude and phase only, as the MEGRE suffix says too.
    sidecar["PulseSequenceType"] = "Multi-echo gradient echo" if scan.n_echoes > 1 else "Gradient echo"
    return sidecar


def _write_raw(writer: _Writer, session: _Session) -> None:
    scan, acquisition = session.scan, _acquisition(session.scan)
    for part, kind in (("mag", "magnitude"), ("phase", "phase")):
        # One open gzip stream read echo after echo: each echo is decompressed once, and only it is held.
        image = nib.load(scan.path(kind), keep_file_open=True)
        for echo, te_ms in enumerate(scan.echo_times_ms, start=1):
            name = f"{session.folder}/{session.prefix}_echo-{echo}_part-{part}_MEGRE"
            volume = np.asarray(image.dataobj[..., echo - 1], dtype=np.float32)
            writer.nifti(f"{name}.nii.gz", _volume(volume, image.affine))
            sidecar = {**acquisition, "EchoTime": te_ms / 1000, "EchoNumber": echo}
            if part == "phase":
                sidecar["Units"] = "rad"
            writer.json(f"{name}.json", sidecar)


def _volume(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=_NIFTI_SCANNER_XFORM)
    image.set_sform(affine, code=_NIFTI_SCANNER_XFORM)
    return image


def _write_derivatives(writer: _Writer, session: _Session, labels: list[str]) -> int:
    """The current run's chi and mask, and the ROI label map with its values; 1 if chi was written."""
    scan = session.scan
    base = f"derivatives/qsmstudy/{session.folder}/{session.prefix}"
    run = ReconRun.objects.filter(scan=scan, is_current=True, status=ReconRun.Status.SUCCEEDED).first()
    if run is not None:
        writer.copy(f"{base}_Chimap.nii.gz", run.output_path("chi"))
        writer.json(f"{base}_Chimap.json", _chi_sidecar(run, session))
        writer.copy(f"{base}_desc-brain_mask.nii.gz", run.output_path("mask"))
        writer.json(f"{base}_desc-brain_mask.json", _mask_sidecar(session))
    latest = [roi for roi in RoiDefinition.latest_for(scan) if roi.name in labels]
    if latest:
        # Rewritten with spatial units and a zero gzip time, which the stored label map lacks.
        label_map = nib.Nifti1Image.from_bytes(gzip.decompress(rois.combined_labels(scan, labels)))
        label_map.header.set_xyzt_units("mm", "sec")
        writer.nifti(f"{base}_desc-rois_dseg.nii.gz", label_map)
        writer.json(f"{base}_desc-rois_dseg.json", {
            "Description": "The latest version of each of the scan's ROIs in qsmstudy, as one label map.",
            "SpatialReference": _spatial_reference(session)})
        values = {v.roi_id: v for v in RoiValue.objects.filter(run=run, roi__in=latest)} if run else {}
        rows = [_dseg_row(labels.index(roi.name) + 1, roi, values.get(roi.pk)) for roi in latest]
        writer.tsv(f"{base}_desc-rois_dseg.tsv", ["index", "name", "roi_voxels", "voxels", *ROI_STAT_COLUMNS,
                                                   "reference"], sorted(rows, key=lambda r: r["index"]))
    return int(run is not None)


def _dseg_row(index: int, roi: RoiDefinition, value: RoiValue | None) -> dict:
    row = {"index": index, "name": roi.name, "roi_voxels": roi.voxels}
    if value is not None:
        row |= {"voxels": value.voxels, "reference": value.reference,
                **{column: getattr(value, column) for column in RoiValue.STATISTICS.values()}}
    return row


def _raw_sources(session: _Session) -> list[str]:
    return [f"bids:raw:{session.folder}/{session.prefix}_echo-{echo}_part-{part}_MEGRE.nii.gz"
            for part in ("mag", "phase") for echo in range(1, session.scan.n_echoes + 1)]


def _spatial_reference(session: _Session) -> str:
    """Derivatives are on the raw grid: the first echo's magnitude is their reference image."""
    return f"bids:raw:{session.folder}/{session.prefix}_echo-1_part-mag_MEGRE.nii.gz"


def _chi_sidecar(run: ReconRun, session: _Session) -> dict:
    return {
        "Units": "ppm",
        "Description": "Magnetic susceptibility (chi) of the session's current qsmstudy reconstruction run.",
        "Sources": _raw_sources(session),
        "SpatialReference": _spatial_reference(session),
        # chi is zero outside the brain mask (qsm.pipeline)
        "SkullStripped": True,
        "Reconstruction": run.params,
        "ReferenceRegion": rois.reference_label(run),
        "SoftwareName": "qsm (qsmstudy)",
        "SoftwareVersion": run.package_version,
    }


def _mask_sidecar(session: _Session) -> dict:
    return {
        "Type": "Brain",
        "Description": "Brain mask of the session's current qsmstudy reconstruction run, from the echo-combined "
                       "magnitude and the phase quality (qsm.mask).",
        "Sources": _raw_sources(session),
        "SpatialReference": _spatial_reference(session),
    }


def _dseg_dictionary() -> dict:
    statistics = {"mean_ppb": "Mean", "median_ppb": "Median", "sd_ppb": "Standard deviation",
                  "q1_ppb": "First quartile", "q3_ppb": "Third quartile", "p5_ppb": "5th percentile",
                  "p95_ppb": "95th percentile"}
    return {
        "index": {"Description": "Voxel value of the ROI in the label map (dseg.nii.gz).", "Format": "integer"},
        "name": {"Description": "ROI name (the study's ROI labels)."},
        "roi_voxels": {"Description": "Voxels of the ROI definition (before overlaps: a later label wins a voxel)."},
        "voxels": {"Description": "Voxels measured on the current reconstruction run."},
        **{column: {"Description": f"{label} of chi in the ROI, on the current run.", "Units": "ppb"}
           for column, label in statistics.items()},
        "reference": {"Description": "What chi is referenced to."},
    }
