"""URL canonicalisation and how a source is read (sitemap or start page)."""

from __future__ import annotations

import pytest

from content_sync.discover import Discovery, canonical_url, is_sitemap, page_links


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("HTTP://Agency.Example:80/apply/#how", "http://agency.example/apply/"),
        ("https://agency.example:443/", "https://agency.example/"),
        ("https://agency.example/a/?utm_source=news&utm_medium=email&id=7", "https://agency.example/a/?id=7"),
        ("https://agency.example/a?b=2&a=1&fbclid=x&gclid=y", "https://agency.example/a?a=1&b=2"),
        ("http://127.0.0.1:8080/forms/", "http://127.0.0.1:8080/forms/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("https://agency.example/caf%C3%A9 menu.html", "https://agency.example/caf%C3%A9%20menu.html"),
    ],
)
def test_one_spelling_per_page(given: str, canonical: str) -> None:
    assert canonical_url(given) == canonical


def test_sitemaps_are_told_from_start_pages() -> None:
    assert is_sitemap("https://agency.example/sitemap.xml")
    assert is_sitemap("https://agency.example/sitemaps/pages.xml.gz")
    assert is_sitemap("https://agency.example/robots.txt")
    assert is_sitemap("https://agency.example/sitemap_index")
    assert not is_sitemap("https://agency.example/")
    assert not is_sitemap("https://agency.example/benefits/index.html")


def test_page_links_are_canonical_in_order_and_once() -> None:
    html = """<a href="/b.html#top">B</a> <a href="a.html?utm_campaign=x">A</a> <a href="/b.html">B again</a>
    <a href="mailto:help@agency.example">mail</a> <a href="javascript:alert(1)">x</a>"""
    assert page_links("https://agency.example/dir/page.html", html) == [
        "https://agency.example/b.html",
        "https://agency.example/dir/a.html",
    ]


def test_the_page_cap_makes_discovery_incomplete_and_says_why() -> None:
    found = Discovery()
    assert found.add("https://agency.example/1", None, max_pages=1)
    assert not found.add("https://agency.example/2", None, max_pages=1)
    assert not found.complete and found.capped
    assert found.skips == [("https://agency.example/2", "past SYNC_MAX_PAGES=1")]
    assert "SYNC_MAX_PAGES=1" in found.problems[0]
