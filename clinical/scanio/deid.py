"""De-identification of DICOM datasets and JSON sidecars.

Follows the DICOM PS3.15 Annex E Basic Application Level Confidentiality
Profile in spirit, erring on the side of removal:

* PatientName and PatientID are replaced by the study code.
* Removed from DICOM, at any depth (sequences included):
  every private tag (GE/Philips phase markers are read before this);
  every person name (VR PN: referring, performing, reading physicians,
  operators, other patient names, ...); every date, time and datetime
  (VR DA/TM/DT: birth date, study/series/acquisition/content dates and
  times); every element of unknown VR (UN); overlays and curves (groups
  5000-50FF, 6000-60FF); and the attributes listed in
  :data:`DICOM_REMOVED_KEYWORDS` (other patient IDs, address, telephone,
  age, sex, size, weight, ethnic group, occupation, patient comments and
  history, accession number, study ID, institution name/address/department,
  station name, device serial number, procedure step and request
  attributes, image/study comments, study description, references to
  other studies, patients and images).
* Replaced: every UID that is not a DICOM-defined class/transfer-syntax UID
  (those start with 1.2.840.10008.) -- Study, Series, SOP Instance, Frame
  of Reference, ... -- by ``2.25.<uuid>`` derived from an HMAC-SHA256 of the
  original UID keyed with a salt.  The mapping is deterministic, so slices of
  one series keep one new Series UID and magnitude and phase keep a shared
  Frame of Reference, but the originals cannot be recovered or linked without
  the salt.  (``pydicom.uid.generate_uid(prefix=None, ...)`` ignores its
  entropy sources and is random, hence the explicit construction.)
* Kept: acquisition parameters (echo/repetition time, flip angle, field
  strength, geometry), Manufacturer, ManufacturerModelName,
  SoftwareVersions, ProtocolName, SeriesDescription, ImageType.
* PatientIdentityRemoved is set to YES and DeidentificationMethod says how.
  The preamble is zeroed and file meta carries only the new SOP UID.

Dates: the scan date is removed from every stored header and sidecar; the
view records the exam date separately, from its own form.

JSON sidecars lose every key matching :data:`JSON_REMOVED_KEY_PATTERN`
(patient, physician, operator, institution, station, serial number,
accession, any date, any UID, comments, procedure steps) and the clock
times in :data:`JSON_REMOVED_KEYS`; ``PatientPosition`` is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

import pydicom
from pydicom.dataset import Dataset

#: Public attributes removed beyond the VR rules (PN/DA/TM/DT/UN removed anyway).
DICOM_REMOVED_KEYWORDS: tuple[str, ...] = (
    "OtherPatientIDs", "OtherPatientIDsSequence", "IssuerOfPatientID",
    "PatientAddress", "PatientTelephoneNumbers", "PatientAge", "PatientSex",
    "PatientSize", "PatientWeight", "EthnicGroup", "Occupation",
    "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "PatientReligiousPreference", "AdditionalPatientHistory", "PatientComments",
    "MedicalRecordLocator", "MedicalAlerts", "Allergies", "SmokingStatus",
    "PregnancyStatus", "PatientInsurancePlanCodeSequence",
    "CurrentPatientLocation", "PatientInstitutionResidence",
    "AccessionNumber", "StudyID", "StudyDescription", "StudyComments",
    "ImageComments", "AcquisitionComments", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianIdentificationSequence", "OperatorIdentificationSequence",
    "StationName", "DeviceSerialNumber", "RequestAttributesSequence",
    "RequestedProcedureID", "RequestedProcedureDescription",
    "ScheduledProcedureStepID", "PerformedProcedureStepID",
    "PerformedProcedureStepDescription", "PerformedLocation",
    "AdmittingDiagnosesDescription", "ReasonForStudy", "RequestingService",
    "ReferencedStudySequence", "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence", "ReferencedImageSequence",
    "SourceImageSequence", "ResponsibleOrganization",
)
_REMOVED_TAGS = frozenset(pydicom.datadict.tag_for_keyword(k) for k in DICOM_REMOVED_KEYWORDS)
_REMOVED_VRS = frozenset({"PN", "DA", "TM", "DT", "UN"})
_DICOM_DEFINED_UID_ROOT = "1.2.840.10008."
_CURVE_AND_OVERLAY_GROUPS = (range(0x5000, 0x5100), range(0x6000, 0x6100))

JSON_REMOVED_KEY_PATTERN = re.compile(
    r"Patient|Physician|Operator|Institution|Station|Serial|Accession|Date|UID"
    r"|Comments|ProcedureStep|StudyID|StudyDescription|Address",
    re.IGNORECASE,
)
JSON_REMOVED_KEYS = frozenset({"AcquisitionTime", "StudyTime", "SeriesTime", "ContentTime"})
_JSON_KEPT_KEYS = frozenset({"PatientPosition"})

#: DeidentificationMethod (LO, at most 64 characters).
METHOD = "qsmstudy scanio: PS3.15 Basic Profile, no dates/private tags"


def replacement_uid(original: str, salt: str) -> str:
    """Return the deterministic, unlinkable replacement for a UID.

    Parameters
    ----------
    original : str
        The UID found in the upload.
    salt : str
        Secret or study-specific key; the same salt maps a UID to the same
        replacement.

    Returns
    -------
    str
        ``2.25.<integer>`` built from a version-4 UUID whose random bits are
        HMAC-SHA256(salt, original).
    """
    digest = hmac.new(salt.encode(), original.encode(), hashlib.sha256).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def deidentify_dataset(ds: Dataset, study_code: str, salt: str) -> None:
    """De-identify a DICOM dataset in place (see the module docstring).

    Parameters
    ----------
    ds : Dataset
        A dataset read from an uploaded file, pixel data included.
    study_code : str
        Becomes PatientName and PatientID.
    salt : str
        Key for the UID replacement.
    """
    _scrub(ds, salt)
    ds.PatientName = study_code
    ds.PatientID = study_code
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    ds.preamble = b"\0" * 128
    meta = Dataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = _transfer_syntax(ds)
    ds.file_meta = pydicom.dataset.FileMetaDataset(meta)


def _transfer_syntax(ds: Dataset) -> str:
    existing = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if existing:
        return existing
    implicit, little = ds.original_encoding
    if not little:
        return pydicom.uid.ExplicitVRBigEndian
    return pydicom.uid.ImplicitVRLittleEndian if implicit else pydicom.uid.ExplicitVRLittleEndian


def _scrub(ds: Dataset, salt: str) -> None:
    # Decide from tags and raw VRs so that elements kept as they are never get
    # decoded: converting every element made de-identification 10x slower.
    for tag in list(ds.keys()):
        vr = _raw_vr(ds, tag)
        if _must_remove(tag, vr):
            del ds[tag]
        elif vr == "SQ":
            for item in ds[tag].value:
                _scrub(item, salt)
        elif vr == "UI" and ds[tag].value:
            ds[tag].value = _replaced_uids(ds[tag].value, salt)


def _raw_vr(ds: Dataset, tag) -> str:
    vr = ds.get_item(tag).VR
    if vr:
        return vr
    try:
        return pydicom.datadict.dictionary_VR(tag)
    except KeyError:
        return "UN"


def _must_remove(tag, vr: str) -> bool:
    return (
        tag.is_private
        or vr in _REMOVED_VRS
        or tag in _REMOVED_TAGS
        or any(tag.group in groups for groups in _CURVE_AND_OVERLAY_GROUPS)
    )


def _replaced_uids(value, salt: str):
    if isinstance(value, str):
        return value if value.startswith(_DICOM_DEFINED_UID_ROOT) else replacement_uid(value, salt)
    return [_replaced_uids(v, salt) for v in value]


def deidentify_sidecar(sidecar: dict, study_code: str) -> dict:
    """Return a copy of a JSON sidecar without identifying keys.

    Parameters
    ----------
    sidecar : dict
        Sidecar as uploaded (e.g. written by dcm2niix without ``-ba y``).
    study_code : str
        Stored as PatientID.

    Returns
    -------
    dict
        The kept keys in their original order, then ``PatientID``.
    """
    kept = {
        key: value
        for key, value in sidecar.items()
        if key in _JSON_KEPT_KEYS
        or not (JSON_REMOVED_KEY_PATTERN.search(key) or key in JSON_REMOVED_KEYS)
    }
    kept["PatientID"] = study_code
    return kept
