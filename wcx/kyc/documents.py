"""Document checks: the type comes from the bytes (magic number, then a real parse), never the name.

Accepted: JPEG, PNG (decoded by Pillow, bounded in pixels) and PDF (parsed by pypdf; encrypted PDFs and
PDFs with scripts, launch actions or embedded files are refused). The client's file name is only kept
for display, after it passed `check_file_name`; storage names are generated.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from wcx.kyc.errors import DocumentRejectedError

MAX_PIXELS = 50_000_000
"""Larger images are refused before decoding (decompression bombs)."""
MAX_NAME = 255
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"%PDF-", PDF),
)
_PIL_FORMAT = {JPEG: "JPEG", PNG: "PNG"}
# Keys, or action types (/S values), that run code, open files or send data: never needed in a scan.
_PDF_DANGER = frozenset(
    {
        "/JavaScript",
        "/JS",
        "/Launch",
        "/EmbeddedFiles",
        "/EmbeddedFile",
        "/RichMedia",
        "/SubmitForm",
        "/ImportData",
        "/GoToE",
        "/XFA",
    }
)
MAX_PDF_DEPTH = 32
MAX_PDF_OBJECTS = 50_000
_SAFE_NAME = re.compile(r"[\w .()+,-]{1,255}")


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A document that passed every check."""

    content_type: str
    size: int
    original_name: str


def _refuse(code: str, message: str, **kind: Any) -> DocumentRejectedError:
    return DocumentRejectedError(code, message, **kind)


def check_file_name(name: str) -> str:
    """The client's file name if harmless (no path parts, no control characters), else refused."""
    normalized = unicodedata.normalize("NFC", name or "")
    if not normalized:
        return ""
    if (
        "/" in normalized
        or "\\" in normalized
        or ".." in normalized
        or normalized.startswith(".")
        or not _SAFE_NAME.fullmatch(normalized)
    ):
        raise _refuse(
            "KYC_INVALID_FILE_NAME",
            "the file name must be a plain name (letters, digits, spaces, . _ - ( ) + ,) without path parts",
        )
    return normalized


def sniff(data: bytes) -> str | None:
    """The content type the leading bytes announce, or None for anything not allowed."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def _too_many_pixels() -> DocumentRejectedError:
    return _refuse("KYC_DOCUMENT_TOO_MANY_PIXELS", f"images may have at most {MAX_PIXELS} pixels")


def _check_image(data: bytes, content_type: str) -> None:
    expected = _PIL_FORMAT[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise _too_many_pixels()
                image.verify()
            # verify() checks structure and checksums but not the pixel data; decoding catches truncation.
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                image.load()
    except DocumentRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _refuse("KYC_DOCUMENT_CORRUPT", f"the {expected} image could not be decoded: {exc}") from None


def _walk_names(obj: Any, seen: set[int], depth: int = 0) -> bool:
    """Whether a PDF object graph holds a dangerous key or action name; too deep or too big is refused
    (a walk that gave up could miss a script hidden further in)."""
    if isinstance(obj, str):
        return str(obj) in _PDF_DANGER
    if depth > MAX_PDF_DEPTH or len(seen) > MAX_PDF_OBJECTS:
        raise _refuse("KYC_DOCUMENT_CORRUPT", "the PDF's structure is too deep or too large to check")
    try:
        resolved = obj.get_object()
    except (AttributeError, PyPdfError):
        resolved = obj
    if id(resolved) in seen:
        return False
    seen.add(id(resolved))
    if isinstance(resolved, str):
        return str(resolved) in _PDF_DANGER
    if isinstance(resolved, dict):
        return any(
            str(key) in _PDF_DANGER or _walk_names(value, seen, depth + 1) for key, value in resolved.items()
        )
    if isinstance(resolved, list):
        return any(_walk_names(item, seen, depth + 1) for item in resolved)
    return False


def _check_pdf(data: bytes) -> None:
    if b"%%EOF" not in data[-2048:]:
        raise _refuse("KYC_DOCUMENT_CORRUPT", "the PDF has no end-of-file marker (truncated?)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise _refuse("KYC_DOCUMENT_ENCRYPTED", "password-protected PDFs cannot be reviewed")
        pages = len(reader.pages)
        root = reader.trailer["/Root"]
        seen: set[int] = set()
        dangerous = _walk_names(root, seen) or any(_walk_names(page, seen) for page in reader.pages)
    except DocumentRejectedError:
        raise
    except Exception as exc:  # pypdf raises many kinds of error on hostile input; all mean "not a PDF"
        raise _refuse("KYC_DOCUMENT_CORRUPT", f"the PDF could not be parsed: {type(exc).__name__}") from None
    if pages == 0:
        raise _refuse("KYC_DOCUMENT_CORRUPT", "the PDF has no pages")
    if dangerous:
        raise _refuse("KYC_DOCUMENT_ACTIVE_CONTENT", "PDFs with scripts, actions or attachments are refused")


def check_document(data: bytes, file_name: str, max_bytes: int) -> CheckedDocument:
    """Validate an upload: name, size, content type by magic number, and a real parse of its structure."""
    name = check_file_name(file_name)
    if not data:
        raise _refuse("KYC_DOCUMENT_EMPTY", "the file is empty")
    if len(data) > max_bytes:
        raise _refuse(
            "KYC_DOCUMENT_TOO_LARGE", f"documents may be at most {max_bytes} bytes", kind="too_large"
        )
    content_type = sniff(data)
    if content_type is None:
        raise _refuse(
            "KYC_DOCUMENT_TYPE_NOT_ALLOWED",
            "only JPEG, PNG and PDF documents are accepted (the type is read from the content)",
        )
    if content_type == PDF:
        _check_pdf(data)
    else:
        _check_image(data, content_type)
    return CheckedDocument(content_type, len(data), name)
