"""Resumable uploads (tus 1.0.0) against a live server: drops, resumes, owners, limits, hand-over, cleanup."""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from rest_framework.authtoken.models import Token

from clinical.scans import remove_incoming_leftovers
from clinical.tus import TusUpload, remove_abandoned, take_uploads
from tests.conftest import wait_for

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 256 * 1024


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def api_client(user) -> requests.Session:
    session = requests.Session()
    session.headers.update(TUS | {"Authorization": f"Token {Token.objects.create(user=user).key}"})
    return session


def create(session: requests.Session, live_server, study, length: int, filename: str = "exam.zip", **extra):
    return session.post(f"{live_server.url}/uploads/tus/", headers={
        "Upload-Length": str(length), "Upload-Metadata": metadata(filename=filename, study=str(study.pk), **extra)})


def patch(session: requests.Session, url: str, offset: int, body: bytes) -> requests.Response:
    return session.patch(url, data=body, headers={"Upload-Offset": str(offset),
                                                  "Content-Type": "application/offset+octet-stream"})


def upload_url(live_server, response: requests.Response) -> str:
    assert response.status_code == 201, response.text
    return live_server.url + response.headers["Location"]


def head_offset(session: requests.Session, url: str) -> int:
    response = session.head(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return int(response.headers["Upload-Offset"])


def start_patch(url: str, token: str, offset: int, declared: int, sent: bytes) -> socket.socket:
    """A PATCH announcing ``declared`` bytes of which only ``sent`` have gone so far."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall((f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                  f"Authorization: Token {token}\r\nUpload-Offset: {offset}\r\n"
                  f"Content-Type: application/offset+octet-stream\r\nContent-Length: {declared}\r\n\r\n").encode())
    sock.sendall(sent)
    return sock


def send_and_drop(url: str, token: str, offset: int, declared: int, sent: bytes) -> None:
    """A PATCH whose connection closes after ``sent`` of ``declared`` bytes: a dropped link."""
    with start_patch(url, token, offset, declared, sent) as sock:
        sock.shutdown(socket.SHUT_WR)


def data_of(url: str) -> TusUpload:
    return TusUpload.load(url.rsplit("/", 1)[-1])


def test_it_resumes_a_dropped_upload_from_the_bytes_stored(live_server, media, coordinator, study, tmp_path):
    original = os.urandom(10 * CHUNK + 1234)
    session = api_client(coordinator)
    url = upload_url(live_server, create(session, live_server, study, len(original), "series 1/IM_0001"))
    assert head_offset(session, url) == 0

    sixty_percent = 6 * CHUNK
    for offset in range(0, sixty_percent, CHUNK):
        response = patch(session, url, offset, original[offset:offset + CHUNK])
        assert response.status_code == 204, response.text
        assert int(response.headers["Upload-Offset"]) == offset + CHUNK

    # The link drops after 100 KiB of a 256 KiB chunk: the server keeps what arrived.
    token = session.headers["Authorization"].split()[1]
    send_and_drop(url, token, sixty_percent, CHUNK, original[sixty_percent:sixty_percent + 100 * 1024])
    stored = wait_for(lambda: head_offset(session, url) == sixty_percent + 100 * 1024, timeout=10)
    assert stored
    resumed_at = head_offset(session, url)
    assert resumed_at == data_of(url).data.stat().st_size

    # A client that missed the answer and sends from the wrong place is told to ask again.
    assert patch(session, url, sixty_percent, original[sixty_percent:sixty_percent + CHUNK]).status_code == 409

    for offset in range(resumed_at, len(original), CHUNK):
        response = patch(session, url, offset, original[offset:offset + CHUNK])
        assert response.status_code == 204, response.text
    assert head_offset(session, url) == len(original)

    assert hashlib.sha256(data_of(url).data.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()
    [path] = take_uploads([url.rsplit("/", 1)[-1]], coordinator, tmp_path / "exam")
    assert path == tmp_path / "exam" / "series 1" / "IM_0001"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()


def test_it_takes_one_patch_at_a_time(live_server, media, coordinator, study):
    session = api_client(coordinator)
    url = upload_url(live_server, create(session, live_server, study, 2 * CHUNK))
    token = session.headers["Authorization"].split()[1]
    with start_patch(url, token, 0, CHUNK, b"a" * 100_000) as stalled:
        # Whole 64 KiB blocks reach the disk as they arrive.
        wait_for(lambda: head_offset(session, url) == 65536, timeout=10)
        # The client gave up on the stalled request and retries: told to wait, not to write twice.
        busy = patch(session, url, 65536, b"b" * 1000)
        assert busy.status_code == 423
        assert "still being received" in busy.text
        stalled.shutdown(socket.SHUT_WR)
    wait_for(lambda: head_offset(session, url) == 100_000, timeout=10)
    assert patch(session, url, 100_000, b"b" * 1000).status_code == 204
    assert data_of(url).data.read_bytes() == b"a" * 100_000 + b"b" * 1000


def test_it_hides_an_upload_from_everyone_else(live_server, media, coordinator, outsider, study):
    url = upload_url(live_server, create(api_client(coordinator), live_server, study, 10))
    stranger = api_client(outsider)
    assert stranger.head(url).status_code == 404
    assert patch(stranger, url, 0, b"0123456789").status_code == 404
    assert stranger.delete(url).status_code == 404
    assert data_of(url).offset == 0
    assert requests.head(url, headers=TUS).status_code == 401


def test_it_creates_uploads_only_for_coordinators_of_the_study(live_server, media, outsider, viewer, study):
    assert create(api_client(outsider), live_server, study, 10).status_code == 404
    refused = create(api_client(viewer), live_server, study, 10)
    assert refused.status_code == 403
    assert "coordinators" in refused.text
    assert not list((media / ".incoming").rglob("data"))


def test_it_refuses_an_oversize_upload_at_creation(live_server, media, settings, coordinator, study):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    session = api_client(coordinator)
    refused = create(session, live_server, study, 1001, "exam.zip")
    assert refused.status_code == 413
    assert "exam.zip" in refused.text and "SCAN_UPLOAD_MAX_BYTES" in refused.text
    # The exam's declared total counts too: its first file is refused, not its last.
    refused = create(session, live_server, study, 10, "IM_0001", exam_bytes="5000")
    assert refused.status_code == 413
    assert "IM_0001" in refused.text
    assert not list((media / ".incoming").rglob("data"))
    options = session.options(f"{live_server.url}/uploads/tus/")
    assert options.headers["Tus-Max-Size"] == "1000"
    assert options.headers["Tus-Extension"] == "creation,termination"


def test_it_needs_the_csrf_token_with_the_session(live_server, media, coordinator, study):
    client = Client()
    client.force_login(coordinator)
    client.get("/")  # sets the CSRF cookie
    session = requests.Session()
    session.headers.update(TUS)
    for name in ("sessionid", "csrftoken"):
        session.cookies.set(name, client.cookies[name].value)
    assert create(session, live_server, study, 10).status_code == 403
    session.headers["X-CSRFToken"] = client.cookies["csrftoken"].value
    url = upload_url(live_server, create(session, live_server, study, 10))
    assert patch(session, url, 0, b"0123456789").status_code == 204
    assert session.delete(url).status_code == 204
    assert data_of(url) is None
    assert session.head(url).status_code == 404


def test_it_answers_the_protocol_errors(live_server, media, coordinator, study):
    session = api_client(coordinator)
    url = upload_url(live_server, create(session, live_server, study, 10))
    wrong_type = session.patch(url, data=b"0123", headers={"Upload-Offset": "0", "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert patch(session, url, 0, b"0123456789AB").status_code == 400  # past Upload-Length
    assert session.head(url, headers={"Tus-Resumable": "0.2.2"}).status_code == 412
    assert session.post(f"{live_server.url}/uploads/tus/", headers={"Upload-Length": "10"}).status_code == 400
    assert create(session, live_server, study, 10, "IM\x000001").status_code == 400
    assert session.post(f"{live_server.url}/uploads/tus/", headers={
        "Upload-Length": "10", "Upload-Metadata": metadata(filename="a", study="9" * 30)}).status_code == 404
    assert patch(session, url, 0, b"").status_code == 204
    not_ascii = {"Upload-Offset": "²", "Content-Type": "application/offset+octet-stream"}
    assert session.patch(url, data=b"0", headers=not_ascii).status_code == 400
    assert data_of(url).offset == 0


def finished(user, study, name: str, body: bytes) -> str:
    upload = TusUpload.create(user, study, name, len(body))
    upload.data.write_bytes(body)
    return upload.id


def test_take_uploads_moves_finished_files_under_their_names(media, coordinator, study, tmp_path):
    ids = [finished(coordinator, study, "DICOM/s1/IM_0001", b"one"), finished(coordinator, study, "../IM_0001", b"two"),
           finished(coordinator, study, "DICOM/s1/IM_0001", b"three")]
    paths = take_uploads(ids, coordinator, tmp_path / "exam", study=study)
    assert [p.relative_to(tmp_path / "exam").as_posix() for p in paths] == [
        "DICOM/s1/IM_0001", "IM_0001", "2/DICOM/s1/IM_0001"]
    assert [p.read_bytes() for p in paths] == [b"one", b"two", b"three"]
    assert not any((media / ".incoming" / "tus").iterdir())


def test_take_uploads_refuses_unfinished_and_foreign_uploads(media, coordinator, outsider, study, other_study,
                                                             tmp_path):
    done = finished(coordinator, study, "done.zip", b"abc")
    partial = TusUpload.create(coordinator, study, "series2.zip", 100)
    partial.data.write_bytes(b"x" * 60)
    with pytest.raises(ValueError, match=r"series2\.zip has not finished uploading \(60 of 100 bytes"):
        take_uploads([done, partial.id], coordinator, tmp_path / "exam")
    with pytest.raises(ValueError, match="unknown or has expired"):
        take_uploads([done], outsider, tmp_path / "exam")
    with pytest.raises(ValueError, match="unknown or has expired"):
        take_uploads(["../../etc"], coordinator, tmp_path / "exam")
    with pytest.raises(ValueError, match="must be a list of upload ids"):
        take_uploads([{"id": done}], coordinator, tmp_path / "exam")
    with pytest.raises(ValueError, match="the same upload twice"):
        take_uploads([done, done], coordinator, tmp_path / "exam")
    with pytest.raises(ValueError, match="unknown or has expired"):
        take_uploads([done], coordinator, tmp_path / "exam", study=other_study)
    assert not (tmp_path / "exam").exists()
    assert TusUpload.load(done).complete and TusUpload.load(partial.id).offset == 60


def test_remove_abandoned_clears_old_uploads_only(media, coordinator, study):
    old = TusUpload.create(coordinator, study, "old.zip", 100)
    old.data.write_bytes(b"x" * 40)
    fresh = TusUpload.create(coordinator, study, "fresh.zip", 100)
    day_ago = time.time() - 86400
    for path in (old.data, old.folder / "info.json", old.folder):
        os.utime(path, (day_ago, day_ago))
    assert remove_abandoned(3600) == 1
    assert not old.folder.exists() and fresh.folder.exists()
    assert remove_abandoned(3600) == 0


def test_an_upload_still_being_sent_survives_the_sweep_of_incoming(live_server, media, coordinator, study):
    session = api_client(coordinator)
    url = upload_url(live_server, create(session, live_server, study, 20))
    upload = data_of(url)
    day_ago = time.time() - 86400
    for path in (upload.data, upload.folder / "info.json", upload.folder, upload.folder.parent):
        os.utime(path, (day_ago, day_ago))
    assert patch(session, url, 0, b"0123456789").status_code == 204
    assert remove_incoming_leftovers(3600) == 0 and remove_abandoned(3600) == 0
    assert patch(session, url, 10, b"0123456789").status_code == 204
    assert data_of(url).complete
