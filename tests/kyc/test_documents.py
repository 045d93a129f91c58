"""Document checks without a database: type by content and a real parse, names, size, active PDFs."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from wcx.kyc.documents import check_document, check_file_name
from wcx.kyc.errors import KycError
from wcx.testing.kyc import elf_executable, sample_jpeg, sample_pdf, sample_png, windows_executable

LIMIT = 1_000_000


def code_of(data: bytes, name: str = "scan.png", limit: int = LIMIT) -> str:
    """The refusal code, or "" when the document is accepted."""
    try:
        check_document(data, name, limit)
    except KycError as exc:
        return exc.code
    return ""


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header announcing `width` x `height` (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00"))
        + _chunk(b"IEND", b"")
    )


def pdf_with(**root: object) -> bytes:
    """A one-page PDF with extra catalogue entries."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    for key, value in root.items():
        writer._root_object[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_real_jpeg_png_and_pdf_are_accepted_whatever_their_name_says() -> None:
    for data, content_type in (
        (sample_jpeg(), "image/jpeg"),
        (sample_png(), "image/png"),
        (sample_pdf(3), "application/pdf"),
    ):
        checked = check_document(data, "document.txt", LIMIT)
        assert (checked.content_type, checked.size, checked.original_name) == (
            content_type,
            len(data),
            "document.txt",
        )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "KYC_DOCUMENT_EMPTY"),
        (elf_executable(), "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
        (windows_executable(), "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
        (b"GIF89a" + b"\x00" * 40, "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "KYC_DOCUMENT_TYPE_NOT_ALLOWED",
        ),
        (b"PK\x03\x04" + b"\x00" * 40, "KYC_DOCUMENT_TYPE_NOT_ALLOWED"),
        # The right magic bytes on a body that is not the format.
        (b"\xff\xd8\xff\xe0" + elf_executable(), "KYC_DOCUMENT_CORRUPT"),
        (sample_jpeg()[:200], "KYC_DOCUMENT_CORRUPT"),
        (sample_png()[:-20], "KYC_DOCUMENT_CORRUPT"),
        (b"%PDF-1.7\n1 0 obj garbage\n%%EOF", "KYC_DOCUMENT_CORRUPT"),
        (sample_pdf()[:-50], "KYC_DOCUMENT_CORRUPT"),
        (png_claiming(9000, 9000), "KYC_DOCUMENT_TOO_MANY_PIXELS"),
        (png_claiming(40000, 40000), "KYC_DOCUMENT_TOO_MANY_PIXELS"),
    ],
)
def test_refused_by_content(data: bytes, code: str) -> None:
    assert code_of(data) == code


def test_pdfs_with_scripts_attachments_or_passwords_are_refused() -> None:
    script = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
    )
    launch = DictionaryObject({NameObject("/S"): NameObject("/Launch")})
    assert code_of(pdf_with(OpenAction=script)) == "KYC_DOCUMENT_ACTIVE_CONTENT"
    assert code_of(pdf_with(OpenAction=launch)) == "KYC_DOCUMENT_ACTIVE_CONTENT"
    attached = PdfWriter()
    attached.add_blank_page(width=200, height=200)
    attached.add_attachment("payload.exe", windows_executable())
    out = io.BytesIO()
    attached.write(out)
    assert code_of(out.getvalue()) == "KYC_DOCUMENT_ACTIVE_CONTENT"
    locked = PdfWriter()
    locked.add_blank_page(width=200, height=200)
    locked.encrypt("secret")
    out = io.BytesIO()
    locked.write(out)
    assert code_of(out.getvalue()) == "KYC_DOCUMENT_ENCRYPTED"


def test_size_limit_is_exact() -> None:
    jpeg = sample_jpeg()
    assert code_of(jpeg, limit=len(jpeg)) == ""
    assert code_of(jpeg, limit=len(jpeg) - 1) == "KYC_DOCUMENT_TOO_LARGE"


@pytest.mark.parametrize(
    "name",
    [
        "../x.png",
        "..\\x.png",
        "/etc/passwd",
        "a/b.png",
        ".htaccess",
        "x\x00.png",
        "x\n.png",
        "a..png",
        "C:\\x.png",
    ],
)
def test_file_names_with_path_parts_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(KycError) as refused:
        check_file_name(name)
    assert refused.value.code == "KYC_INVALID_FILE_NAME"


def test_plain_file_names_are_kept_for_display() -> None:
    assert check_file_name("Reisepass (Seite 1).pdf") == "Reisepass (Seite 1).pdf"
    assert check_file_name("") == ""
