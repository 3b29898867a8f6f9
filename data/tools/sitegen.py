"""Author pages of the bundled sample site: wrap a page's main content in the site's chrome, rebuild sitemaps.

    python data/tools/sitegen.py page FRAGMENT.html [FRAGMENT.html ...]
    python data/tools/sitegen.py sitemap

A fragment starts with a front-matter block, then the HTML that goes inside <main>:

    ---
    path: /allowances/burial-allowance.html
    title: Burial Allowance            (the <title>, before " | Westmarch Department of Family Benefits")
    description: One sentence for <meta name=description>.
    updated: 2026-10-02                (the page's "Last updated" date, also the sitemap's lastmod)
    lang: en                           (en or es)
    crumbs: Allowances=/allowances/index.html   (optional; ";"-separated Label=/path pairs between Home and the page)
    crumb: Burial Allowance            (the last breadcrumb, the page itself)
    ---
    <h1>...</h1>
    ...

`sitemap` writes data/sample_site/sitemap.xml from every page outside /internal/, and
data/sample_site_updates/sitemap.xml from the site with the updates applied and REMOVED taken away.
"""

from __future__ import annotations

import html
import re
import sys
from datetime import date
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent
SITE = DATA / "sample_site"
UPDATES = DATA / "sample_site_updates"
TEMPLATE_PAGE = SITE / "payments" / "payment-schedule.html"
MONTHS_EN = "January February March April May June July August September October November December".split()
MONTHS_ES = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()


def _chrome() -> tuple[str, str]:
    """The template page's markup before <main> and after </main>."""
    page = TEMPLATE_PAGE.read_text(encoding="utf-8")
    head, rest = page.split('  <main id="main-content">', 1)
    return head, rest.split("  </main>", 1)[1]


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    if not text.startswith("---\n"):
        raise SystemExit("a fragment must start with a '---' front-matter block")
    block, body = text[4:].split("\n---\n", 1)
    meta = {}
    for line in block.splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.split("  (", 1)[0].strip()
    return meta, body.strip("\n")


def render_page(meta: dict[str, str], body: str) -> str:
    head, tail = _chrome()
    lang = meta.get("lang", "en")
    head = head.replace('<html lang="en">', f'<html lang="{lang}">')
    head = re.sub(r"<title>.*?</title>", f"<title>{html.escape(meta['title'])} | Westmarch Department of Family Benefits</title>", head)
    head = re.sub(r'<meta name="description" content="[^"]*">', f'<meta name="description" content="{html.escape(meta["description"])}">', head)
    crumbs = ['        <li><a href="/index.html">Home</a></li>']
    for pair in filter(None, (p.strip() for p in meta.get("crumbs", "").split(";"))):
        label, _, href = pair.partition("=")
        crumbs.append(f'        <li><a href="{href.strip()}">{html.escape(label.strip())}</a></li>')
    crumbs.append(f'        <li aria-current="page">{html.escape(meta.get("crumb", meta["title"]))}</li>')
    head = re.sub(r"(<ol>\n).*?(\n    </ol>)", lambda m: m.group(1) + "\n".join(crumbs) + m.group(2), head, count=1, flags=re.S)
    day = date.fromisoformat(meta["updated"])
    if lang == "es":
        shown, label = f"{day.day} de {MONTHS_ES[day.month - 1]} de {day.year}", "Última actualización"
    else:
        shown, label = f"{MONTHS_EN[day.month - 1]} {day.day}, {day.year}", "Last updated"
    updated = f'    <p class="last-updated">{label}: <time datetime="{day.isoformat()}">{shown}</time></p>'
    return f'{head}  <main id="main-content">\n    {body.strip()}\n{updated}\n  </main>{tail}'


def cmd_page(paths: list[str]) -> None:
    for name in paths:
        meta, body = _front_matter(Path(name).read_text(encoding="utf-8"))
        out = SITE / meta["path"].lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_page(meta, body), encoding="utf-8")
        print(f"wrote {out.relative_to(DATA.parent)}")


def _lastmod(page: Path) -> str:
    found = re.search(r'class="last-updated"[^>]*>.*?<time datetime="([0-9-]+)"', page.read_text(encoding="utf-8"), re.S)
    return found.group(1) if found else "2026-06-01"


def _sitemap(pages: dict[str, Path]) -> str:
    rows = []
    for rel in sorted(pages, key=lambda r: (r != "index.html", r)):
        rows.append(f"  <url>\n    <loc>{{{{BASE_URL}}}}/{rel}</loc>\n    <lastmod>{_lastmod(pages[rel])}</lastmod>\n  </url>")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + "\n".join(rows) + "\n</urlset>\n"


def _pages(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*.html") if not p.relative_to(root).as_posix().startswith("internal/")}


def cmd_sitemap() -> None:
    site = _pages(SITE)
    (SITE / "sitemap.xml").write_text(_sitemap(site), encoding="utf-8")
    removed = {ln.strip().lstrip("/") for ln in (UPDATES / "REMOVED").read_text().splitlines() if ln.strip() and not ln.startswith("#")}
    updated = {**site, **_pages(UPDATES)}
    for rel in removed:
        updated.pop(rel, None)
    (UPDATES / "sitemap.xml").write_text(_sitemap(updated), encoding="utf-8")
    print(f"sitemaps: {len(site)} pages now, {len(updated)} after the update")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "page":
        cmd_page(sys.argv[2:])
    elif sys.argv[1:] == ["sitemap"]:
        cmd_sitemap()
    else:
        raise SystemExit(__doc__)
