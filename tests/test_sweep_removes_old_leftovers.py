"""The sweep removes old leftovers of killed uploads and reconstructions, and keeps fresh ones."""
import os
import time
from pathlib import Path

from recon.sweep import sweep


def made(path: Path, age_s: float, folder: bool = True) -> Path:
    if folder:
        path.mkdir(parents=True)
        (path / "part.nii.gz").write_bytes(b"x" * 10)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_the_sweep_removes_old_incoming_and_staging_folders_and_keeps_fresh_ones(db, media, settings):
    settings.SWEEP_LEFTOVERS_AFTER = 3600
    incoming = media / ".incoming"
    old_upload = made(incoming / "tmpold", 2 * 3600)
    old_file = made(incoming / "stray.zip", 2 * 3600, folder=False)
    fresh_upload = made(incoming / "tmpfresh", 60)
    staging = media / "recon" / "7"
    old_staging = made(staging / "0f0e.tmp-1234", 2 * 3600)
    fresh_staging = made(staging / "0f0f.tmp-5678", 60)
    published = made(staging / "0f10", 2 * 3600)  # a finished run's outputs: never a leftover

    swept = sweep()

    assert (swept.incoming, swept.staging) == (2, 1)
    assert not old_upload.exists() and not old_file.exists() and not old_staging.exists()
    assert fresh_upload.exists() and fresh_staging.exists() and published.exists()
    assert incoming.is_dir()


def test_the_sweep_removes_scan_folders_no_row_names(db, media, settings, patient):
    from tests.recon_data import phantom_scan

    settings.SWEEP_LEFTOVERS_AFTER = 3600
    stored = phantom_scan(patient)
    kept = media / stored.directory
    then = time.time() - 2 * 3600
    os.utime(kept, (then, then))
    orphan = made(media / "scans" / str(patient.study_id) / "8d0c7f0e-0000-4000-8000-000000000000", 2 * 3600)
    fresh = made(media / "scans" / str(patient.study_id) / "8d0c7f0e-0000-4000-8000-000000000001", 60)
    sweep()
    assert not orphan.exists() and fresh.exists() and kept.exists()
