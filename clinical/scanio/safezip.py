"""Turn the uploaded paths into a flat list of files, extracting zips safely.

Zip members are checked before anything is extracted: absolute paths, ``..``
components, symbolic links, encrypted or duplicated members, nested archives,
too many files, too many declared bytes and implausible compression ratios are
all refused.  Members are then streamed to disk in 1 MiB chunks.  The
declared sizes are binding: CPython's zip reader never returns more than a
member's declared size and then fails its CRC check, so a member that
under-declares its size is refused as damaged rather than filling the disk.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UploadError, without_paths
from .limits import UploadLimits

#: Operating-system litter that archivers add; never a scan file.
_LITTER_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_LITTER_DIRS = frozenset({"__MACOSX"})
_MIB = 1024**2
#: A zip starts with a local file header, or, when it holds nothing, with its end record.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class SourceFile:
    """One file of the upload on disk.

    Attributes
    ----------
    path : Path
        Where the file is (the upload itself or its extracted copy in workdir).
    name : str
        How the coordinator knows it: the uploaded basename, or
        ``archive.zip:member/path`` for a zip member.
    """

    path: Path
    name: str


def is_litter(member_path: str) -> bool:
    """Return whether a path is archiver litter (macOS resource forks etc.)."""
    parts = PurePosixPath(member_path).parts
    return bool(parts) and (parts[-1] in _LITTER_NAMES or any(p in _LITTER_DIRS for p in parts))


def expand_upload(paths: list[Path], workdir: Path, limits: UploadLimits) -> list[SourceFile]:
    """List every file of the upload, extracting zip archives into ``workdir``.

    Parameters
    ----------
    paths : list of Path
        The uploaded files as saved by the view.
    workdir : Path
        Scratch directory; archives are extracted below ``workdir/extracted``.
    limits : UploadLimits
        Bounds on size, count and compression.

    Returns
    -------
    list of SourceFile
        Loose files in place, zip members at their extracted location.

    Raises
    ------
    UploadError
        If the upload is empty, too large, or an archive is unsafe.
    """
    if not paths:
        raise UploadError("upload", "no files were received", "choose the scan files and upload again")
    _check_received_size(paths, limits)
    archives = [p for p in paths if _is_zip(p)]
    members = {p: _checked_members(p, limits) for p in archives}
    _check_totals(paths, archives, members, limits)
    files = [SourceFile(p, p.name) for p in paths if p not in members and not is_litter(p.name)]
    for index, archive in enumerate(archives):
        files.extend(_extract(archive, members[archive], workdir / "extracted" / str(index)))
    return files


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in _ZIP_MAGICS


def _check_received_size(paths: list[Path], limits: UploadLimits) -> None:
    total = sum(p.stat().st_size for p in paths)
    if total > limits.max_total_bytes:
        raise UploadError(
            paths[0].name if len(paths) == 1 else "upload",
            f"{total / _MIB:.0f} MiB received, more than the {limits.max_total_bytes / _MIB:.0f} MiB allowed",
            "upload only the multi-echo GRE magnitude and phase series",
        )


def _checked_members(archive: Path, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(archive.name, f"not a readable zip archive ({without_paths(str(exc))})",
                          "create the zip again and re-upload") from exc
    seen: set[str] = set()
    kept = []
    for info in infos:
        label = f"{archive.name}:{info.filename}"
        _check_member_safety(info, label)
        if info.filename in seen:
            raise UploadError(label, "appears twice in the archive", "create the zip again from a folder")
        seen.add(info.filename)
        if info.is_dir() or is_litter(info.filename):
            continue
        _check_member_ratio(info, label, limits)
        kept.append(info)
    if not kept:
        raise UploadError(archive.name, "is an empty zip (it holds no files)", "zip the scan folder itself and upload again")
    return kept


def _check_member_safety(info: zipfile.ZipInfo, label: str) -> None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(label, "has an absolute path", "create the zip from inside the scan folder (relative paths)")
    if ".." in name.split("/"):
        raise UploadError(label, "has a '..' path component", "create the zip from inside the scan folder (relative paths)")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(label, "is a symbolic link", "zip the files themselves, not links to them")
    if info.flag_bits & 0x1:
        raise UploadError(label, "is password-protected", "create the zip without encryption")
    if not info.is_dir() and name.lower().endswith(".zip"):
        raise UploadError(label, "is a zip inside the zip", "extract the inner zip and upload it directly")


def _check_member_ratio(info: zipfile.ZipInfo, label: str, limits: UploadLimits) -> None:
    if info.file_size < _MIB:
        return
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise UploadError(
            label,
            f"compresses {ratio:.0f}:1, more than the {limits.max_compression_ratio:.0f}:1 allowed for a scan",
            "upload the original scan files; this archive looks like a zip bomb",
        )


def _check_totals(
    paths: list[Path],
    archives: list[Path],
    members: dict[Path, list[zipfile.ZipInfo]],
    limits: UploadLimits,
) -> None:
    n_files = len(paths) - len(archives) + sum(len(m) for m in members.values())
    if n_files > limits.max_files:
        raise UploadError(
            archives[0].name if len(archives) == 1 else "upload",
            f"{n_files} files, more than the {limits.max_files} allowed",
            "upload only the multi-echo GRE magnitude and phase series",
        )
    declared = sum(i.file_size for m in members.values() for i in m)
    if declared > limits.max_uncompressed_bytes:
        raise UploadError(
            archives[0].name if len(archives) == 1 else "upload",
            f"archives expand to {declared / _MIB:.0f} MiB, more than the "
            f"{limits.max_uncompressed_bytes / _MIB:.0f} MiB allowed",
            "upload only the multi-echo GRE magnitude and phase series",
        )
    for archive in archives:
        expanded = sum(i.file_size for i in members[archive])
        ratio = expanded / max(archive.stat().st_size, 1)
        if ratio > limits.max_compression_ratio:
            raise UploadError(
                archive.name,
                f"expands {ratio:.0f}:1, more than the {limits.max_compression_ratio:.0f}:1 allowed for a scan",
                "upload the original scan files; this archive looks like a zip bomb",
            )


def _extract(archive: Path, infos: list[zipfile.ZipInfo], target: Path) -> list[SourceFile]:
    extracted = []
    root = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in infos:
            label = f"{archive.name}:{info.filename}"
            destination = (target / info.filename.replace("\\", "/")).resolve()
            if not destination.is_relative_to(root):
                raise UploadError(label, "would be extracted outside the archive folder", "create the zip with relative paths")
            destination.parent.mkdir(parents=True, exist_ok=True)
            _stream_member(zf, info, destination, label)
            extracted.append(SourceFile(destination, label))
    return extracted


def _stream_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path, label: str) -> None:
    try:
        with zf.open(info) as source, destination.open("wb") as sink:
            shutil.copyfileobj(source, sink, length=_MIB)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UploadError(label, f"is damaged ({without_paths(str(exc))})", "create the zip again and re-upload") from exc
    if _is_zip(destination):
        raise UploadError(label, "is a zip inside the zip", "extract the inner zip and upload it directly")
