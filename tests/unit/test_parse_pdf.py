"""PDFs: a title, one section per page, passages that say their page, clean text, and clear errors.

The fixtures were written once by a real PDF writer (tests/fixtures/make_pdfs.py) and are only read here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from content_sync.chunk import Chunk, chunk_page
from content_sync.errors import ParseError, SyncError
from content_sync.parse import parse_pdf

PDFS = Path(__file__).resolve().parent.parent / "fixtures" / "pdf"
URL = "http://site.example/forms/handbook.pdf"
TITLE = "Reporting changes: a guide for households"


def handbook() -> bytes:
    return (PDFS / "handbook.pdf").read_bytes()


def test_title_date_and_language_come_from_the_pdf() -> None:
    page = parse_pdf(URL, handbook())
    assert page.title == TITLE
    assert page.last_updated == "2026-10-08"
    assert page.language == "en-US"
    assert page.url == URL


def test_without_a_metadata_title_the_first_line_is_the_title() -> None:
    page = parse_pdf("http://site.example/checklist.pdf", (PDFS / "untitled.pdf").read_bytes())
    assert page.title == "Form FB-210 checklist"
    assert "Sign Part I before you send the form." in page.text


def test_one_section_per_page_headed_by_title_and_page() -> None:
    page = parse_pdf(URL, handbook())
    assert [s.headings for s in page.sections] == [(TITLE, f"Page {n}") for n in (1, 2, 3)]
    assert [s.page for s in page.sections] == [1, 2, 3]
    assert "Report a new job within 10 days" in " ".join(page.sections[1].blocks)


def test_chunks_carry_their_page_number() -> None:
    chunks = chunk_page(parse_pdf(URL, handbook()))
    assert [c.page for c in chunks] == [1, 2, 3]
    on_page = {c.page: c for c in chunks}
    assert "Keep a copy of everything you send us" in on_page[3].text
    assert on_page[2].embed_text.startswith(f"{TITLE} > Page 2\n")
    assert Chunk.from_dict(on_page[2].to_dict()) == on_page[2]
    assert chunk_page(parse_pdf(URL, handbook())) == chunks  # the same ids and digests every time


def test_text_is_cleaned_of_hyphenation_page_furniture_and_white_space() -> None:
    page = parse_pdf(URL, handbook())
    text = page.text
    assert "We use the information you report" in text  # "infor-" + "mation" at a line end
    assert "the date of your last paycheck." in text
    assert "infor-" not in text and "pay-" not in text
    assert "Page 1 of 3" not in text  # the footer
    assert "Westmarch Department of Family Benefits" not in text  # the running header on every page
    assert "  " not in text
    blocks = page.sections[0].blocks
    assert blocks[0] == TITLE  # a short line ends its block
    assert "• Report by phone at (555) 010-2000." in blocks  # each bullet its own block


def test_a_pdf_with_only_an_owner_password_opens() -> None:
    page = parse_pdf(URL, (PDFS / "restricted.pdf").read_bytes())
    assert page.title == TITLE and len(page.sections) == 3


def test_a_password_protected_pdf_gives_a_clear_error() -> None:
    with pytest.raises(ParseError, match="password-protected PDF") as caught:
        parse_pdf(URL, (PDFS / "locked.pdf").read_bytes())
    assert isinstance(caught.value, SyncError)
    assert URL in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>not a pdf</html>", b"%PDF-1.7\n%%EOF", (PDFS / "handbook.pdf").read_bytes()[:1500]],
    ids=["empty", "html", "header-only", "truncated"],
)
def test_a_broken_pdf_gives_a_clear_error(content: bytes) -> None:
    with pytest.raises(ParseError, match="not a readable PDF") as caught:
        parse_pdf(URL, content)
    assert URL in str(caught.value)


def test_the_sample_site_pdf_parses() -> None:
    site_pdf = Path(__file__).resolve().parents[2] / "data" / "sample_site" / "forms" / "fb-210-change-report.pdf"
    page = parse_pdf("http://127.0.0.1/forms/fb-210-change-report.pdf", site_pdf.read_bytes())
    assert page.title == "Form FB-210 Change Report Form"
    assert [s.page for s in page.sections] == [1, 2]
    assert "PO Box 7710" in " ".join(page.sections[1].blocks)


def test_extracted_lines_lose_ligatures_soft_hyphens_and_odd_spaces() -> None:
    from content_sync.parse import _pdf_lines

    raw = "Bene\ufb01ts are re-\r\nviewed every\u00a0six  months.\nAn ex\u00ad\nample, and a real hyphen: FB-210."
    assert _pdf_lines(raw) == ["Benefits are reviewed every six months.", "An example, and a real hyphen: FB-210."]
