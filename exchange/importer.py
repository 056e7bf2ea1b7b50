"""Import a BIDS dataset zip into a study: participants, exams, MEGRE sessions and ROI definitions.

All or nothing: the tables are checked first (every problem is reported), then patients, exams and
scans are saved in one transaction. Each session's MEGRE files go through clinical.scans.ingest,
the upload form's own path (checks, de-identification, duplicate refusal, conversion), which hands every
new scan to reconstruction with the parameters of the exported current run when the dataset has its
Chimap sidecar (the defaults otherwise). A failure rolls the database back and removes the
files already stored, and the message names the dataset file and the problem.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
from django.db import transaction

from clinical.forms import ExamForm, PatientForm, ScanUploadForm
from clinical.models import Patient, ScanSession, Study
from clinical.scanio import UploadError
from clinical.scanio.errors import without_paths
from clinical.scanio.safezip import expand_upload
from clinical.scans import IngestRefused, incoming_dir, ingest, upload_limits
from dashboard.models import ExternalRoiValue
from recon import rois
from recon.forms import RunForm
from recon.models import RoiDefinition

from . import bids

GRE_SUFFIXES = ("MEGRE", "GRE")
_SPLIT_ENTITIES = ("echo", "part")  # entities that tell the files of one series apart


class BidsImportError(Exception):
    """The dataset cannot be imported; ``problems`` name the file and what to do. Nothing was saved."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportResult:
    patients: int = 0
    exams: int = 0
    scans: int = 0
    rois: int = 0
    external_values: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.patients} patients, {self.exams} exams, {self.scans} scan sessions (queued for "
                f"reconstruction), {self.rois} ROI definitions, {self.external_values} external ROI values")


@dataclass
class _Series:
    """The MEGRE files of one scan, and where its metadata and ROI label map are."""

    subject: str
    session: str
    key: str  # file name stem without echo/part/suffix, e.g. sub-01_ses-20240305
    files: list[Path] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    dseg: Path | None = None
    dseg_table: Path | None = None
    params: dict = field(default_factory=dict)  # the exported current run's reconstruction parameters


def import_bids(study: Study, archive: Path, *, filename: str = "", user=None,
                progress: Callable[[str, float], None] | None = None,
                before_commit: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """Import a BIDS dataset zip into a study, all or nothing.

    Parameters
    ----------
    study : Study
        Where the participants, exams, sessions and ROIs go.
    archive : Path
        The dataset zip.
    filename : str, optional
        How the user knows the zip (the uploaded name), for messages; by default its own name.
    user : User, optional
        Who imports (the uploader of the scans, and the audit history's user).
    progress : callable, optional
        ``progress(stage, fraction)``, told of each step and each scan session stored.
    before_commit : callable, optional
        ``before_commit(result)``, called inside the saving transaction once everything is saved: a job
        records its outcome there, so that the import and its record commit together. It may raise to
        undo everything.

    Returns
    -------
    ImportResult
        What was created, and notes on what was left out.

    Raises
    ------
    BidsImportError
        With every problem found, naming the dataset file; nothing was saved.
    """
    filename = filename or Path(archive).name
    report = progress or (lambda stage, fraction: None)
    with tempfile.TemporaryDirectory(dir=incoming_dir()) as work:
        report("unpacking", 0)
        try:
            files = expand_upload([Path(archive)], Path(work), upload_limits())
        except UploadError as exc:  # it names the server's copy of the zip: show the name the user gave it
            raise BidsImportError([str(exc).replace(Path(archive).name, filename)]) from exc
        report("checking", 0.1)
        dataset = _Dataset(_root(files, filename), filename)
        dataset.read(study)
        return dataset.save(study, user, report, before_commit)


def _root(files, name: str) -> Path:
    descriptions = [f.path for f in files if f.path.name == "dataset_description.json"
                    and "derivatives" not in f.path.parts]
    if not descriptions:
        raise BidsImportError([f"{name}: no dataset_description.json; zip the BIDS dataset folder itself."])
    return min(descriptions, key=lambda p: len(p.parts)).parent


class _Dataset:
    def __init__(self, root: Path, archive_name: str) -> None:
        self.root, self.archive_name = root, archive_name
        self.problems: list[str] = []
        self.result = ImportResult()
        self.patients: dict[str, dict] = {}  # participant_id -> form data
        self.exams: dict[str, list[tuple[str, dict]]] = defaultdict(list)  # -> (where, form data)
        self.external: list[dict] = []
        self.series: list[_Series] = []

    def where(self, path: Path, line: int | None = None) -> str:
        relative = path.relative_to(self.root).as_posix()
        return f"{relative}, line {line}" if line else relative

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def table(self, path: Path) -> tuple[list[str], list[dict[str, str]]]:
        try:
            return bids.read_tsv(path.read_bytes(), self.where(path))
        except ValueError as exc:
            raise BidsImportError([str(exc)]) from exc

    # Reading and checking, before anything is saved.

    def read(self, study: Study) -> None:
        self.read_participants(study)
        self.read_exams()
        self.read_external(study)
        self.read_series(study)
        if self.problems:
            raise BidsImportError(self.problems)

    def read_participants(self, study: Study) -> None:
        path = self.root / "participants.tsv"
        if not path.is_file():
            raise BidsImportError([f"{self.archive_name}: no participants.tsv; list every participant with its "
                                   "diagnosis (docs/bids.md)."])
        header, rows = self.table(path)
        if "participant_id" not in header:
            raise BidsImportError([f"{self.where(path)}: no participant_id column."])
        columns = {name: bids.PARTICIPANT_ALIASES.get(name, name) for name in header}
        known = {"participant_id", bids.CODE_COLUMN, bids.AGE_COLUMN, *bids.PATIENT_FIELDS}
        ignored = [name for name, target in columns.items() if target not in known]
        if ignored:
            self.result.notes.append(f"participants.tsv: columns not imported: {', '.join(ignored)}")
        existing = set(study.patients.values_list("code", flat=True))
        for line, row in enumerate(rows, start=2):
            participant = row["participant_id"]
            where = self.where(path, line)
            if not re.fullmatch(r"sub-[A-Za-z0-9]+", participant):
                self.problem(where, f"participant_id '{participant}' is not sub-<letters and digits>.")
                continue
            code = row.get(bids.CODE_COLUMN) or participant[4:]
            data = {"code": code, "reason": f"BIDS import: {self.archive_name}"[:100]}
            for name, target in columns.items():
                if target in bids.PATIENT_FIELDS and row[name]:
                    value = bids.LEVEL_ALIASES.get(target, {}).get(row[name].lower(), row[name])
                    data[target] = self.form_value(where, name, target, value)
            if code in existing:
                self.problem(where, f"study code {code} is already in {study.name}; import into a study without "
                                    "these patients.")
            elif participant in self.patients or any(d["code"] == code for d in self.patients.values()):
                self.problem(where, f"{participant} (study code {code}) is listed twice.")
            else:
                self.check(PatientForm(data, study=study), where)
            # Kept even when refused, so that its exams and sessions are not reported as unknown too.
            self.patients.setdefault(participant, data)

    def read_exams(self) -> None:
        path = self.root / "phenotype" / f"{bids.EXAMS_TABLE}.tsv"
        if not path.is_file():
            return
        header, rows = self.table(path)
        ignored = [h for h in header if h not in ("participant_id", bids.EXAM_DATE_COLUMN, *bids.EXAM_FIELDS,
                                                  *bids.DERIVED_EXAM_FIELDS)]
        if ignored:
            self.result.notes.append(f"phenotype/{bids.EXAMS_TABLE}.tsv: columns not imported: {', '.join(ignored)}")
        for line, row in enumerate(rows, start=2):
            where = self.where(path, line)
            participant = row.get("participant_id", "")
            if participant not in self.patients:
                self.problem(where, f"{participant or 'no participant_id'} is not in participants.tsv.")
                continue
            data = {"date": row.get(bids.EXAM_DATE_COLUMN, ""), "reason": f"BIDS import: {self.archive_name}"[:100]}
            data |= {name: self.form_value(where, name, name, row[name]) for name in bids.EXAM_FIELDS if row.get(name)}
            if any(d["date"] == data["date"] for _, d in self.exams[participant]):
                self.problem(where, f"{participant} has two exams on {data['date']}; keep one per day.")
                continue
            self.exams[participant].append((where, data))

    def read_external(self, study: Study) -> None:
        path = self.root / "phenotype" / f"{bids.EXTERNAL_TABLE}.tsv"
        if not path.is_file():
            return
        _, rows = self.table(path)
        for line, row in enumerate(rows, start=2):
            where = self.where(path, line)
            try:
                value = {"participant": row["participant_id"], "scan_date": dt.date.fromisoformat(row["scan_date"]),
                         "roi_name": row["roi"], "value_ppb": float(row["value_ppb"]),
                         "source": row.get("source") or f"BIDS import: {self.archive_name}"}
            except (KeyError, ValueError):
                self.problem(where, "needs participant_id, scan_date (YYYY-MM-DD), roi and value_ppb (a number).")
                continue
            if value["participant"] not in self.patients:
                self.problem(where, f"{value['participant']} is not in participants.tsv.")
            elif value["roi_name"] not in study.roi_labels:
                self.problem(where, f"ROI '{value['roi_name']}' is not one of {study.name}'s ROI labels "
                                    f"({', '.join(study.roi_labels)}).")
            else:
                self.external.append(value)

    def read_series(self, study: Study) -> None:
        by_key: dict[str, _Series] = {}
        for path in sorted(self.root.glob("sub-*/**/anat/*")):
            entities, suffix = _entities(path)
            if suffix not in GRE_SUFFIXES:
                self.result.notes.append(f"{self.where(path)}: not imported (only MEGRE and GRE series are).")
                continue
            subject = f"sub-{entities.get('sub', '')}"
            if "ses" not in entities:
                self.problem(self.where(path), "has no ses-<label>; put each scan in a session folder with its "
                                               "date in sub-<label>_sessions.tsv (scan_date).")
                continue
            key = "_".join(f"{k}-{v}" for k, v in entities.items() if k not in _SPLIT_ENTITIES)
            series = by_key.setdefault(key, _Series(subject, f"ses-{entities['ses']}", key))
            series.files.append(path)
        self.series = list(by_key.values())
        for subject in sorted({s.subject for s in self.series} - set(self.patients)):
            self.problem(f"{subject}/", "has no row in participants.tsv; add one with its diagnosis.")
        for subject in sorted({s.subject for s in self.series}):
            self.read_sessions_table(subject, [s for s in self.series if s.subject == subject])
        for series in self.series:
            self.find_roi_labels(series, study)
            self.find_reconstruction(series)

    def read_sessions_table(self, subject: str, series: list[_Series]) -> None:
        path = self.root / subject / f"{subject}_sessions.tsv"
        rows = {}
        if path.is_file():
            _, table = self.table(path)
            rows = {row.get("session_id", ""): row for row in table}
        for s in series:
            row = rows.get(s.session, {})
            date = row.get("scan_date") or _date_from_label(s.session)
            try:
                s.fields["scan_date"] = dt.date.fromisoformat(date).isoformat()
            except (TypeError, ValueError):
                self.problem(f"{subject}/{s.session}", "has no scan date: give it in the scan_date column "
                                                       f"(YYYY-MM-DD) of {subject}_sessions.tsv.")
                continue
            # Scanner and protocol come from the headers, as on the upload page.
            s.fields |= {name: row.get(name, "") for name in ("site", "field_strength_t")}
            form = ScanUploadForm(s.fields)
            for name, errors in form.errors.items():
                if name != "files":
                    self.problem(f"{subject}/{s.session}", f"{name}: {' '.join(errors)}")

    def find_roi_labels(self, series: _Series, study: Study) -> None:
        folder = self.derivatives(series)
        image, table = folder / f"{series.key}_desc-rois_dseg.nii.gz", folder / f"{series.key}_desc-rois_dseg.tsv"
        if not image.is_file():
            return
        if not table.is_file():
            self.problem(self.where(image), f"has no {table.name} giving each index its ROI name.")
            return
        _, rows = self.table(table)
        for line, row in enumerate(rows, start=2):
            if row.get("name") not in study.roi_labels or not row.get("index", "").isdigit():
                self.problem(self.where(table, line), f"needs an index and a name from {study.name}'s ROI labels "
                                                      f"({', '.join(study.roi_labels)}).")
        series.dseg, series.dseg_table = image, table

    def form_value(self, where: str, column: str, name: str, text: str) -> str:
        value = bids.form_value(name, text)
        if value is None:
            self.problem(where, f"{column}: '{text}' is not true or false (write n/a if not examined).")
        return value or ""

    def find_reconstruction(self, series: _Series) -> None:
        """The parameters in the exported Chimap sidecar, checked like the scan page's reconstruct form."""
        path = self.derivatives(series) / f"{series.key}_Chimap.json"
        if not path.is_file():
            return
        try:
            params = json.loads(path.read_text(encoding="utf-8")).get("Reconstruction", {})
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            self.problem(self.where(path), f"is not a JSON object ({exc}).")
            return
        form = RunForm(params)
        if form.is_valid():
            series.params = form.cleaned_data
        else:
            for name, errors in form.errors.items():
                self.problem(self.where(path), f"Reconstruction {name}: {' '.join(errors)}")

    def derivatives(self, series: _Series) -> Path:
        return self.root / "derivatives" / bids.PIPELINE / series.subject / series.session / "anat"

    def check(self, form, where: str) -> None:
        if not form.is_valid():
            for name, messages in form.errors.items():
                for message in messages:
                    self.problem(where, f"{name}: {message}" if name != "__all__" else message)

    # Saving, all or nothing.

    def save(self, study: Study, user, report: Callable[[str, float], None],
             before_commit: Callable[[ImportResult], None] | None) -> ImportResult:
        stored: list[ScanSession] = []
        try:
            with transaction.atomic():
                report("saving patients and exams", 0.15)
                patients = self.save_patients(study, user)
                # Each session is checked, converted and stored: most of the time goes there.
                for done, series in enumerate(self.series):
                    report("storing scan sessions", 0.2 + 0.8 * done / len(self.series))
                    scan = self.store(series, patients[series.subject], user)
                    stored.append(scan)
                    self.save_rois(series, scan, user)
                self.result.scans = len(stored)
                if before_commit is not None:
                    before_commit(self.result)
        except BaseException:
            for scan in stored:
                shutil.rmtree(scan.path("magnitude").parent, ignore_errors=True)
                shutil.rmtree(rois.roi_folder(scan), ignore_errors=True)
            raise
        return self.result

    def save_patients(self, study: Study, user) -> dict[str, Patient]:
        patients = {}
        for participant, data in self.patients.items():
            form = PatientForm(data, study=study)
            if not form.is_valid():  # checked when read: only a concurrent change can fail it now
                raise BidsImportError([f"participants.tsv, {participant}: {form.errors.as_text()}"])
            form.instance._history_user = user
            patients[participant] = form.save()
            for where, exam_data in self.exams[participant]:
                exam = ExamForm(exam_data, patient=patients[participant])
                self.check(exam, where)
                if exam.is_valid() and not self.problems:
                    exam.instance._history_user = user
                    exam.save()
                    self.result.exams += 1
        for value in self.external:
            ExternalRoiValue.objects.create(patient=patients[value.pop("participant")], imported_by=user, **value)
        self.result.patients, self.result.external_values = len(patients), len(self.external)
        if self.problems:
            raise BidsImportError(self.problems)
        return patients

    def store(self, series: _Series, patient: Patient, user) -> ScanSession:
        where = f"{series.subject}/{series.session} ({series.key})"
        try:
            scan = ingest(patient, series.fields, series.files, user, reconstruction=series.params or None)
        except IngestRefused as exc:
            raise BidsImportError([f"{where}: {'' if name == 'files' else name + ': '}{' '.join(errors)}"
                                   for name, errors in exc.errors.items()]) from exc
        self.result.notes.extend(f"{where}: {warning}" for warning in scan.warnings)
        return scan

    def save_rois(self, series: _Series, scan: ScanSession, user) -> None:
        if series.dseg is None:
            return
        _, rows = self.table(series.dseg_table)
        mapping = {int(row["index"]): row["name"] for row in rows}
        name = self.where(series.dseg)
        try:
            image = nib.load(series.dseg)
        except (OSError, nib.filebasedimages.ImageFileError) as exc:
            raise BidsImportError([f"{name}: not a readable NIfTI label map ({without_paths(str(exc))})."]) from exc
        try:
            masks = rois.masks_from_labels(image, mapping, scan, name)
            saved = rois.save_rois(scan, masks, RoiDefinition.Source.UPLOADED,
                                   {roi: {"file": name, "value": value} for value, roi in mapping.items()}, user)
        except rois.RoiError as exc:  # its message starts with the file name
            raise BidsImportError([str(exc)]) from exc
        self.result.rois += len(saved)


def _entities(path: Path) -> tuple[dict[str, str], str]:
    """{'sub': '01', 'ses': '20240305', 'echo': '1', ...} and the suffix of a BIDS file name."""
    stem = path.name.split(".")[0]
    *pairs, suffix = stem.split("_")
    return dict(p.split("-", 1) for p in pairs if "-" in p), suffix


def _date_from_label(session: str) -> str | None:
    match = re.fullmatch(r"ses-(\d{4})(\d{2})(\d{2})[a-z]?", session)
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None

