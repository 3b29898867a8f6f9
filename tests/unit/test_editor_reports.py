"""Sync reports as the editors' pages show them: counts, pages grouped by reason, time per step."""

from __future__ import annotations

from channels.editor.reports import describe_report, group_by_reason, summary_line
from content_sync.report import SyncReport

BASE = "http://site.test"


def report() -> SyncReport:
    r = SyncReport(kind="incremental", index_version="v2", previous_version="v1", published=True, discovered=9)
    r.record(f"{BASE}/a.html", "added")
    r.record(f"{BASE}/b.html", "changed")
    r.record(f"{BASE}/c.html", "unchanged", "sitemap lastmod unchanged")
    r.record(f"{BASE}/d.html", "deleted", "404 Not Found")
    r.record(f"{BASE}/e.html", "kept", "HTTP 503 (will retry)")
    r.record(f"{BASE}/f.html", "kept", "HTTP 503 (will retry)")
    r.skip("http://elsewhere.example/x.html", "outside ALLOWED_DOMAINS")
    r.skip("http://elsewhere.example/y.html", "outside ALLOWED_DOMAINS")
    r.skip(f"{BASE}/internal/secret.html", "disallowed by robots.txt")
    r.errors.append("GET http://site.test/e.html: 503")
    r.seconds = {"discover": 0.4, "fetch": 2.25, "embed": 1.5, "publish": 0.1}
    return r


def test_counts_follow_the_outcomes_in_order() -> None:
    view = describe_report(report().to_dict())
    assert [(name, count) for name, _label, count in view.counts] == [
        ("added", 1),
        ("changed", 1),
        ("unchanged", 1),
        ("deleted", 1),
        ("kept", 2),
        ("skipped", 3),
    ]
    assert view.published and view.index_version == "v2" and view.previous_version == "v1"
    assert view.lists["deleted"] == (f"{BASE}/d.html",)


def test_skipped_and_kept_pages_are_grouped_by_reason_largest_first() -> None:
    view = describe_report(report().to_dict())
    assert [(g.reason, g.urls) for g in view.skipped] == [
        ("outside ALLOWED_DOMAINS", ("http://elsewhere.example/x.html", "http://elsewhere.example/y.html")),
        ("disallowed by robots.txt", (f"{BASE}/internal/secret.html",)),
    ]
    assert [(g.reason, len(g.urls)) for g in view.kept] == [("HTTP 503 (will retry)", 2)]


def test_steps_get_readable_names_and_errors_are_kept() -> None:
    view = describe_report(report().to_dict())
    assert view.seconds == (("Discover pages", 0.4), ("Fetch", 2.25), ("Embed", 1.5), ("Publish", 0.1))
    assert view.errors == ("GET http://site.test/e.html: 503",)


def test_an_empty_or_partial_report_is_shown_as_nothing_yet() -> None:
    view = describe_report({})
    assert view.empty
    assert view.discovery_complete
    assert summary_line({}) == "no pages"
    partial = describe_report({"changed": ["u"], "seconds": {"fetch": "bad"}, "skipped": ["not a dict"]})
    assert not partial.empty and partial.seconds == () and partial.skipped == ()


def test_summary_line_names_only_what_happened() -> None:
    assert summary_line(report().to_dict()) == "1 added, 1 changed, 1 unchanged, 1 deleted, 2 kept, 3 skipped"


def test_group_by_reason_breaks_ties_by_reason() -> None:
    groups = group_by_reason([("u2", "b"), ("u1", "a")])
    assert [g.reason for g in groups] == ["a", "b"]
