"""Black-box: document uploads against the real `wcx serve` process, over HTTP multipart.

Refused: an oversized file, an executable renamed `.jpg`, a path-traversal file name, an empty file —
each with its own code and no trace on disk or in the submission. Accepted files are stored encrypted:
the plaintext is nowhere in the storage directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api.test_blackbox import Client, sign_up
from api.test_blackbox import services as services  # noqa: PLC0414 - the fixture (SQLite, PostgreSQL+Redis)

from wcx.kyc.tiers import DEFAULT_KYC_FILE, read_kyc_file
from wcx.testing.kyc import elf_executable, sample_jpeg, sample_pdf, sample_png, windows_executable
from wcx.testing.server import Server

MAX_BYTES = int(read_kyc_file(DEFAULT_KYC_FILE)["max_document_bytes"])
MARKER = b"KYC-PLAINTEXT-MARKER-7f3a"


@pytest.fixture
def server(tmp_path: Path, services: dict[str, str]) -> Iterator[Server]:
    """A running server whose new users start at tier 0."""
    running = Server(tmp_path / "data", {**services, "KYC_DEFAULT_TIER": "0"})
    running.data_dir.mkdir()
    running.start()
    yield running
    running.stop()


def upload(
    client: Client, submission_id: int, name: str, data: bytes, kind: str = "id_document"
) -> httpx.Response:
    """POST one multipart document (the declared content type is deliberately wrong: it must not matter)."""
    return client.http.post(
        f"/api/v1/kyc/submissions/{submission_id}/documents",
        data={"kind": kind},
        files={"file": (name, data, "image/jpeg")},
        headers={"Authorization": f"Bearer {client.token}"},
    )


def stored_files(server: Server) -> list[Path]:
    """Every file in the document storage directory."""
    return sorted(p for p in (server.data_dir / "kyc" / "documents").rglob("*") if p.is_file())


@pytest.mark.parametrize("services", ["sqlite", "postgresql+redis"], indirect=True)
def test_uploads_are_checked_by_content_and_stored_encrypted(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        alice = sign_up(http, "alice@example.com")
        created = alice.ok(
            "POST",
            "/api/v1/kyc/submissions",
            {
                "requested_tier": 2,
                "personal_data": {
                    "full_name": "Alice Example",
                    "date_of_birth": "1990-04-01",
                    "country": "DE",
                    "address": "Hauptstrasse 1, Berlin",
                },
            },
            status=201,
        )
        submission_id = created["id"]

        jpeg = sample_jpeg()
        refusals = [
            ("passport.jpg", jpeg + b"\x00" * (MAX_BYTES - len(jpeg) + 1), 413, "KYC_DOCUMENT_TOO_LARGE"),
            ("passport.jpg", elf_executable(), 400, "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
            ("setup.jpg", windows_executable(), 400, "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
            ("../../../etc/cron.d/x.jpg", jpeg, 400, "KYC_INVALID_FILE_NAME"),
            ("..\\..\\boot.ini.jpg", jpeg, 400, "KYC_INVALID_FILE_NAME"),
            ("empty.jpg", b"", 400, "KYC_DOCUMENT_EMPTY"),
            ("truncated.png", sample_png()[:100], 400, "KYC_DOCUMENT_CORRUPT"),
        ]
        for name, data, status, code in refusals:
            answer = upload(alice, submission_id, name, data)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (name, answer.text)
        # Far beyond the document limit the gateway stops reading the body at all.
        huge = upload(alice, submission_id, "huge.jpg", jpeg + b"\x00" * (MAX_BYTES + 200_000))
        assert (huge.status_code, huge.json()["error"]["code"]) == (413, "BODY_TOO_LARGE")
        assert stored_files(server) == []

        png = sample_png(text=MARKER)
        pdf = sample_pdf(title=MARKER.decode())
        accepted = [
            ("scan.png", png, "id_document", "image/png"),
            ("selfie.pdf", pdf, "selfie", "application/pdf"),
        ]
        for name, data, kind, content_type in accepted:
            answer = upload(alice, submission_id, name, data, kind)
            assert answer.status_code == 201, answer.text
            assert (answer.json()["content_type"], answer.json()["size"]) == (content_type, len(data))
        missing_kind = alice.http.post(
            f"/api/v1/kyc/submissions/{submission_id}/documents",
            files={"file": ("scan.png", png, "image/png")},
            headers={"Authorization": f"Bearer {alice.token}"},
        )
        assert (missing_kind.status_code, missing_kind.json()["error"]["code"]) == (422, "INVALID_REQUEST")

        submission = alice.ok("GET", f"/api/v1/kyc/submissions/{submission_id}")
        assert [d["original_name"] for d in submission["documents"]] == ["scan.png", "selfie.pdf"]
        files = stored_files(server)
        assert len(files) == 2
        for path in files:
            assert len(path.stem) == 32 and path.suffix == ".bin"
            content = path.read_bytes()
            assert MARKER not in content and b"%PDF" not in content and b"PNG" not in content[:16]

        submitted = alice.ok("POST", f"/api/v1/kyc/submissions/{submission_id}/submit")
        assert submitted["status"] == "submitted"
        locked = upload(alice, submission_id, "late.png", png)
        assert (locked.status_code, locked.json()["error"]["code"]) == (409, "KYC_SUBMISSION_LOCKED")
        assert len(stored_files(server)) == 2
        exposition = http.get("/metrics").text
        for outcome, count in (
            ("stored", 2),
            ("KYC_DOCUMENT_EMPTY", 1),
            ("KYC_DOCUMENT_TYPE_NOT_ALLOWED", 2),
        ):
            assert f'kyc_documents_total{{outcome="{outcome}"}} {count}.0' in exposition
