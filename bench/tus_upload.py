"""Time and web-process memory of a 4 GiB resumable (tus) upload in 16 MiB chunks, behind a 60 s limit.

A random file is created, then sent to a gunicorn worker through the tus endpoint with an API token:
one POST, then one PATCH per chunk, as tus-js-client does in the page. The worker is killed by gunicorn
if any request takes over 60 s, as a proxy with a 60 s read timeout would cut it, so the upload only
succeeds if every chunk's request stays under that. The worker's peak resident set (VmHWM) is read from
/proc before and after; the stored bytes are checked against the file's SHA-256. ``BENCH_TUS_BYTES``,
``BENCH_TUS_CHUNK`` and ``BENCH_TUS_TIMEOUT`` change the sizes and the limit.
Run: ``python -m bench tus_upload``.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import requests

from .server import Gunicorn, Installation, memory_kib

SIZE = int(os.environ.get("BENCH_TUS_BYTES", 4 * 2**30))
CHUNK = int(os.environ.get("BENCH_TUS_CHUNK", 16 * 2**20))
TIMEOUT_S = int(os.environ.get("BENCH_TUS_TIMEOUT", 60))


def make_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, SIZE, CHUNK):
            block = os.urandom(min(CHUNK, SIZE - start))
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def main() -> None:
    install = Installation()
    user, study, _ = install.coordinator_session()
    from rest_framework.authtoken.models import Token

    from clinical.tus import TusUpload

    source = install.folder / "exam.zip"
    sha256 = make_file(source)
    server = Gunicorn(install, timeout_s=TIMEOUT_S)
    session = requests.Session()
    session.headers.update({"Tus-Resumable": "1.0.0", "Authorization": f"Token {Token.objects.create(user=user).key}"})
    try:
        pid = server.worker_pid()
        before = memory_kib(pid, "VmHWM")
        metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                            for key, value in {"filename": "exam.zip", "study": str(study.pk)}.items())
        started = time.perf_counter()
        created = session.post(f"{server.url}/uploads/tus/", headers={"Upload-Length": str(SIZE),
                                                                       "Upload-Metadata": metadata})
        created.raise_for_status()
        url = server.url + created.headers["Location"]
        slowest = 0.0
        with source.open("rb") as chunks:
            offset = 0
            while offset < SIZE:
                body = chunks.read(CHUNK)
                sent = time.perf_counter()
                answer = session.patch(url, data=body, headers={
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
                answer.raise_for_status()
                slowest = max(slowest, time.perf_counter() - sent)
                offset = int(answer.headers["Upload-Offset"])
        seconds = time.perf_counter() - started
        peak, now = memory_kib(pid, "VmHWM"), memory_kib(pid, "VmRSS")
    finally:
        server.stop()
    stored = TusUpload.load(url.rsplit("/", 1)[-1])
    with stored.data.open("rb") as received:
        same = hashlib.file_digest(received, "sha256").hexdigest() == sha256
    source.unlink()  # gigabytes of disk otherwise
    stored.discard()
    print(f"tus upload of {SIZE / 2**20:.0f} MiB in {-(-SIZE // CHUNK)} chunks of {CHUNK / 2**20:.0f} MiB: "
          f"{seconds:.1f} s ({SIZE / 2**20 / seconds:.0f} MiB/s), slowest PATCH {slowest:.2f} s (limit {TIMEOUT_S} s "
          f"per request); "
          f"stored bytes {'match' if same else 'DIFFER from'} the file's SHA-256")
    print(f"web worker peak RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB after "
          f"(growth {(peak - before) / 1024:.0f} MiB; RSS now {now / 1024:.0f} MiB)")
    if not same:
        raise SystemExit("the stored upload differs from the file sent")


if __name__ == "__main__":
    main()
