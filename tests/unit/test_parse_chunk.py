"""Parsing keeps the main content and drops chrome; chunking follows headings and is stable."""

from __future__ import annotations

import pytest

from content_sync.chunk import MAX_WORDS, Chunk, chunk_page, page_id
from content_sync.parse import parse_page

HTML = """<!doctype html><html lang="es"><head><title>Appeals | Agency</title>
<script>window.analytics = 1;</script><style>p{}</style></head><body>
<a class="skip-link" href="#main">Skip</a>
<header><p>Westmarch Department</p><nav aria-label="Main"><a href="/a">Benefits</a></nav></header>
<nav aria-label="Breadcrumb" class="breadcrumb"><a href="/">Home</a> › Appeals</nav>
<div class="cookie-banner">We use cookies</div>
<main id="main-content">
  <h1>How to appeal a decision</h1>
  <p>If you disagree, you can <a href="/appeals/fair-hearing.html">ask for a hearing</a>.</p>
  <h2>Deadlines</h2>
  <p>Ask within 30 days.</p>
  <h3>Late requests</h3>
  <ul><li>Explain why you are late.</li><li>Include your case number.</li></ul>
  <h2>Fees</h2>
  <table><tr><th>Step</th><th>Cost</th></tr><tr><td>Hearing</td><td>Free</td></tr></table>
  <p>Escaped markup stays text: &lt;script&gt;alert(1)&lt;/script&gt;</p>
  <p class="last-updated">Last updated: <time datetime="2026-09-14">September 14, 2026</time></p>
</main>
<footer><p>Footer address</p></footer></body></html>"""


def test_main_content_without_chrome() -> None:
    page = parse_page("http://site.example/appeals.html", HTML)
    assert page.title == "How to appeal a decision"
    assert page.last_updated == "2026-09-14"
    assert page.language == "es"
    text = page.text
    for chrome in (
        "Westmarch Department",
        "Benefits",
        "Skip",
        "cookies",
        "Footer address",
        "analytics",
        "Last updated",
    ):
        assert chrome not in text
    assert "ask for a hearing" in text
    assert "Step | Cost" in text and "Hearing | Free" in text
    assert "<script>alert(1)</script>" in text  # text, which every channel escapes when it renders
    assert "http://site.example/appeals/fair-hearing.html" in page.links


def test_sections_carry_their_heading_path() -> None:
    page = parse_page("http://site.example/appeals.html", HTML)
    paths = [s.headings for s in page.sections]
    assert paths[0] == ("How to appeal a decision",)
    assert ("How to appeal a decision", "Deadlines", "Late requests") in paths
    fees = next(s for s in page.sections if s.headings[-1] == "Fees")
    assert fees.headings == ("How to appeal a decision", "Fees")


def test_broken_html_still_parses() -> None:
    page = parse_page("http://x.example/", "<html><body><main><h1>Title<p>Unclosed <b>bold<li>item")
    assert page.title.startswith("Title")
    assert "item" in page.text


def test_chunks_are_stable_and_heading_aware() -> None:
    page = parse_page("http://site.example/appeals.html", HTML)
    first, second = chunk_page(page), chunk_page(page)
    assert [c.id for c in first] == [c.id for c in second]
    assert [c.digest for c in first] == [c.digest for c in second]
    assert first[0].id == f"{page_id(page.url)}_0"
    late = next(c for c in first if c.headings[-1] == "Late requests")
    assert late.embed_text.startswith("How to appeal a decision > Deadlines > Late requests\n")
    assert all(c.last_updated == "2026-09-14" for c in first)


def test_long_sections_split_at_sentences() -> None:
    sentence = "Each household member must show proof of income for the last thirty days. "
    html = f"<main><h1>Income</h1><h2>Proof</h2><p>{sentence * 60}</p></main>"
    chunks = chunk_page(parse_page("http://x.example/income", html))
    assert len(chunks) > 1
    assert all(len(c.text.split()) <= MAX_WORDS for c in chunks)
    assert all(c.text.rstrip().endswith(".") for c in chunks)


def test_a_changed_sentence_changes_only_its_chunk() -> None:
    before = chunk_page(parse_page("http://site.example/a", HTML))
    after = chunk_page(parse_page("http://site.example/a", HTML.replace("Ask within 30 days.", "Ask within 60 days.")))
    changed = [a.id for a, b in zip(before, after, strict=True) if a.digest != b.digest]
    assert changed == [next(c.id for c in before if "30 days" in c.text)]


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Offices open at 8:00 a.m. to 6:00 p.m. on weekdays. " * 25
    chunks = chunk_page(parse_page("http://x.example/h", f"<main><h1>Hours</h1><p>{text}</p></main>"))
    assert all("8:00 a.m. to 6:00 p.m." in c.text for c in chunks)


def test_real_world_markup_keeps_its_text() -> None:
    html = """<html><head><meta property="article:modified_time" content="2026-10-01"></head><body>
    <header><nav>Site menu</nav></header>
    <main><article><header><h1>Appeals</h1><p>You have <a href="/d">30 days</a>.</p></header>
    <p>The deadline is <time datetime="2027-01-31">31 January</time>.</p>
    <div>Call us on 555-0100 (weekdays only).</div><section><div>Nested leaf text</div></section>
    </article></main></body></html>"""
    page = parse_page("http://x.example/a", html)
    assert page.title == "Appeals"
    assert "You have 30 days." in page.text
    assert "Call us on 555-0100 (weekdays only)." in page.text and "Nested leaf text" in page.text
    assert "Site menu" not in page.text
    assert page.last_updated == "2026-10-01"  # not the deadline's date
    assert "The deadline is 31 January." in page.text


@pytest.mark.parametrize(
    ("meta", "noindex"),
    [
        ('<meta name="robots" content="noindex">', True),
        ('<meta name="ROBOTS" content="NoIndex, follow">', True),
        ('<meta name="robots" content="none">', True),
        ('<meta name="robots" content="index, follow">', False),
        ('<meta name="robots" content="nofollow">', False),
        ('<meta name="description" content="noindex">', False),
        ("", False),
    ],
)
def test_noindex_comes_from_the_robots_meta(meta: str, noindex: bool) -> None:
    page = parse_page("http://x.example/a", f"<html><head>{meta}</head><body><main><h1>A</h1><p>x</p></main>")
    assert page.noindex is noindex


def test_pdf_links_are_absolute_without_fragments_each_once_in_page_order() -> None:
    html = """<html><body><header><a href="/forms/all.PDF">All forms</a></header><main><h1>Forms</h1>
    <p><a href="fb-210.pdf#page=2">FB-210</a>, <a href="https://other.example/guide.pdf?v=3">guide</a>,
    <a href="/forms/fb-210.pdf">FB-210 again</a>, <a href="/forms/fb-210.html">not a PDF</a>,
    <a href="/pdf/">a folder</a>, <a href="mailto:x@example.pdf">mail</a></p></main></body></html>"""
    page = parse_page("http://site.example/forms/index.html", html)
    assert page.pdf_links == [
        "http://site.example/forms/all.PDF",
        "http://site.example/forms/fb-210.pdf",
        "https://other.example/guide.pdf?v=3",
    ]


def test_links_follow_a_base_href() -> None:
    html = '<html><head><base href="/docs/"></head><body><main><h1>A</h1><a href="f.pdf">f</a></main></body></html>'
    page = parse_page("http://site.example/forms/index.html", html)
    assert page.pdf_links == ["http://site.example/docs/f.pdf"]


def test_canonical_is_absolute() -> None:
    page = parse_page(
        "http://site.example/forms/index.html?utm=1",
        HTML.replace("<title>", '<link rel="Canonical" href="/forms/"><title>'),
    )
    assert page.canonical == "http://site.example/forms/"
    assert parse_page("http://site.example/a", HTML).canonical is None
    assert parse_page("http://site.example/a", HTML).noindex is False


def test_html_chunks_have_no_page_and_old_chunk_dicts_still_load() -> None:
    chunks = chunk_page(parse_page("http://site.example/appeals.html", HTML))
    assert all(c.page is None for c in chunks)
    old = {k: v for k, v in chunks[0].to_dict().items() if k != "page"}  # written before chunks had pages
    assert Chunk.from_dict(old) == chunks[0]
