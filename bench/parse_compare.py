"""Which page parser should the sync use? The bs4 rules of `content_sync.parse` against `trafilatura`.

Every page of the sample site's sitemap is parsed each way and cut into passages by `content_sync.chunk`; the
passages are embedded with the product's model and searched two ways:

- dense only: the cosine of the question with each passage (normalised vectors, numpy dot), a page scoring its
  best passage. Nothing in it was tuned, so it compares parsers fairly;
- product: `content_sync.search.Searcher` over an index published in a temporary folder (dense + BM25 fusion,
  with `Ranking`'s defaults, which were tuned on the dev half with the bs4 passages: a small edge for bs4).

Each is scored on the answerable questions of the eval set (tests/eval/questions/): is the question's page the
first page found (top-1), among the first three (top-3)? Dev and test halves are reported apart; nothing here is
tuned on either. Besides: extraction time per page, passages per page, how many answer phrases survive the
extraction at all, and how much chrome leaks into passages:

- site chrome: a passage containing a text (3+ words) of the site's header, footer, nav, cookie banner or skip
  link that is found on at least a quarter of the pages (e.g. "An official website of the State of Westmarch");
- related links: a passage with a line that is exactly the title of a link in the page's "Related links" box;
- "Last updated": a passage with a line that is only the "Last updated:" label without its date.

trafilatura 2.0.0 is the newest release that installs beside the project's pinned lxml 6.0.0 (2.1.0 and later
need lxml >= 6.1.1); the script runs with whichever version is importable and prints it.

Run: `.venv/bin/python bench/parse_compare.py` (about three minutes on two cores). Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import trafilatura  # noqa: E402
from bs4 import BeautifulSoup, Tag  # noqa: E402
from lxml import etree  # noqa: E402

from bench.evalset import fold, load_eval, path_of, table  # noqa: E402
from content_sync.chunk import Chunk, chunk_page  # noqa: E402
from content_sync.embed import embed_texts  # noqa: E402
from content_sync.index_store import IndexStore  # noqa: E402
from content_sync.parse import ParsedPage, parse_page, sections_from  # noqa: E402
from content_sync.sample_site import ROOT as SAMPLE_SITE  # noqa: E402
from content_sync.search import Searcher  # noqa: E402
from content_sync.settings import SyncSettings  # noqa: E402

BASE = "http://sample-site.example"
Parser = Callable[[str, str], ParsedPage]
SPACE = re.compile(r"\s+")
HEAD_LEVEL = re.compile(r"h([1-6])$")
LANG = re.compile(r"<html[^>]*\blang=[\"']?([A-Za-z-]+)", re.IGNORECASE)
LABEL_ONLY = re.compile(r"^(Last updated|Última actualización):?$")
CHROME_SELECTORS = "header, footer, nav, .cookie-banner, .skip-link"
TIMING_PASSES = 3


def sample_pages() -> dict[str, str]:
    """URL → HTML for every page the sitemap lists, the way the sample site serves them."""
    sitemap = (SAMPLE_SITE / "sitemap.xml").read_text(encoding="utf-8")
    paths = [loc.split("}}", 1)[1] for loc in re.findall(r"<loc>([^<]+)</loc>", sitemap)]
    return {BASE + p: (SAMPLE_SITE / p.lstrip("/")).read_text(encoding="utf-8") for p in paths}


def _text(element: ElementTree.Element) -> str:
    return SPACE.sub(" ", "".join(element.itertext())).strip()


def trafilatura_parser(**options: Any) -> Parser:
    """trafilatura's XML output (which keeps headings as <head rend="hN">) turned into a ParsedPage."""

    def parse(url: str, html: str) -> ParsedPage:
        xml = trafilatura.extract(
            html,
            url=url,
            output_format="xml",
            with_metadata=True,
            include_comments=False,
            include_images=False,
            include_links=False,
            **options,
        )
        lang = LANG.search(html)
        language = lang.group(1) if lang else None
        if not xml:
            return ParsedPage(url=url, title=url, sections=[], language=language)
        doc = ElementTree.fromstring(xml)
        main = doc.find("main")
        items: list[tuple[int | None, str]] = []

        def walk(element: ElementTree.Element) -> None:
            for child in element:
                if child.tag == "head":
                    level = HEAD_LEVEL.match(child.get("rend", ""))
                    if text := _text(child):
                        items.append((int(level.group(1)) if level else 2, text))
                elif child.tag == "row":
                    cells = [_text(cell) for cell in child.iter("cell")]
                    if any(cells):
                        items.append((None, " | ".join(cells)))
                elif child.tag in ("p", "item", "quote", "code"):
                    if text := _text(child):
                        items.append((None, text))
                else:
                    walk(child)

        if main is not None:
            walk(main)
        title = doc.get("title") or next((t for lv, t in items if lv is not None), url)
        return ParsedPage(
            url=url,
            title=SPACE.sub(" ", title).strip(),
            sections=sections_from(title, items),
            last_updated=doc.get("date"),
            language=language,
        )

    return parse


VARIANTS: dict[str, Parser] = {
    "bs4 rules (current)": parse_page,
    "trafilatura": trafilatura_parser(include_tables=True),
    "trafilatura, no tables": trafilatura_parser(include_tables=False),
    "trafilatura, favor_precision": trafilatura_parser(include_tables=True, favor_precision=True),
    "trafilatura, favor_recall": trafilatura_parser(include_tables=True, favor_recall=True),
}


def chrome_strings(pages: dict[str, str]) -> tuple[set[str], dict[str, set[str]], dict[str, str]]:
    """Texts of the site's template found on a quarter of the pages or more; each page's related-link titles;
    each page's own content (its <main> without the related-links box), where a template text is no leak."""
    seen: Counter[str] = Counter()
    related: dict[str, set[str]] = {}
    content: dict[str, str] = {}
    for url, html in pages.items():
        soup = BeautifulSoup(html, "lxml")
        texts: set[str] = set()
        for element in soup.select(CHROME_SELECTORS):
            if isinstance(element, Tag) and element.find_parent("main") is None:
                texts.update(SPACE.sub(" ", s).strip() for s in element.stripped_strings)
        seen.update(t for t in texts if len(t.split()) >= 3)
        boxes = soup.select(".related-links, .related, .see-also")
        related[url] = {SPACE.sub(" ", a.get_text(" ")).strip() for box in boxes for a in box.select("a")}
        for box in boxes:
            box.decompose()
        main = soup.find("main")
        content[url] = SPACE.sub(" ", main.get_text(" ")) if isinstance(main, Tag) else ""
    return {t for t, n in seen.items() if n >= len(pages) / 4}, related, content


def leaks(
    chunks: list[Chunk], chrome: set[str], related: dict[str, set[str]], content: dict[str, str]
) -> tuple[int, int, int]:
    """Passages with site chrome, with a related-link title as a line, with a bare "Last updated:" label.
    A text that the page's own content also says (the agency's name, its address) is not counted."""
    site = rel = label = 0
    for chunk in chunks:
        own = content.get(chunk.url, "")
        lines = {line.strip() for line in chunk.text.splitlines()}
        site += any(s in chunk.text and s not in own for s in chrome)
        rel += any(line in related.get(chunk.url, set()) and line not in own for line in lines)
        label += any(LABEL_ONLY.match(line) for line in lines)
    return site, rel, label


def rank_dense(chunks: list[Chunk], vectors: np.ndarray, queries: np.ndarray) -> list[list[str]]:
    """For each query, the pages ordered by their best passage's cosine (top 3)."""
    urls = list(dict.fromkeys(c.url for c in chunks))
    number = {u: i for i, u in enumerate(urls)}
    page_of = np.array([number[c.url] for c in chunks])
    scores = vectors @ queries.T  # passages × queries
    best = np.full((len(urls), queries.shape[0]), -np.inf, dtype=np.float32)
    np.maximum.at(best, page_of, scores)
    order = np.argsort(-best, axis=0)[:3].T
    return [[urls[i] for i in row] for row in order]


def rank_product(chunks: list[Chunk], vectors: np.ndarray, model: str, questions: list[str]) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="parse-compare-") as tmp:
        pages = {url: {"title": url} for url in dict.fromkeys(c.url for c in chunks)}
        IndexStore(Path(tmp)).publish(chunks, vectors, pages, {"model": model})
        searcher = Searcher(Path(tmp), model)
        return [[h.chunk.url for h in searcher.search(q, k=3).hits] for q in questions]


def score(ranked: list[list[str]], items: list[dict[str, Any]], split: str) -> str:
    rows = [(r, q) for r, q in zip(ranked, items, strict=True) if q["split"] == split]
    top1 = sum(bool(r) and path_of(r[0]) == q["path"] for r, q in rows)
    top3 = sum(q["path"] in [path_of(u) for u in r[:3]] for r, q in rows)
    return f"{top1 / len(rows):.3f} / {top3 / len(rows):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--no-product", action="store_true", help="skip the product search (dense only)")
    args = parser.parse_args()
    model = SyncSettings(_env_file=None).embedding_model
    pages = sample_pages()
    items = load_eval().questions
    chrome, related, content = chrome_strings(pages)
    queries = embed_texts(model, [q["question"] for q in items])
    cache: dict[str, np.ndarray] = {}
    rows: list[list[str]] = []
    for name in args.variants:
        parse = VARIANTS[name]
        parse(*next(iter(pages.items())))  # warm up (lazy imports, compiled patterns)
        passes: list[float] = []
        for _ in range(TIMING_PASSES):  # the fastest of a few passes: the cores are shared
            start = time.perf_counter()
            parsed = [parse(url, html) for url, html in pages.items()]
            passes.append((time.perf_counter() - start) / len(pages))
        chunks: list[Chunk] = []
        texts: dict[str, str] = {}
        for url, page in zip(pages, parsed, strict=True):
            page_chunks = chunk_page(page)
            chunks.extend(page_chunks)
            texts[path_of(url) or url] = fold("\n".join(" ".join(c.headings) + "\n" + c.text for c in page_chunks))
        todo = [t for t in dict.fromkeys(c.embed_text for c in chunks) if t not in cache]
        if todo:
            cache.update(zip(todo, embed_texts(model, todo), strict=True))
        vectors = np.stack([cache[c.embed_text] for c in chunks]).astype(np.float32)
        dense = rank_dense(chunks, vectors, queries)
        product = None if args.no_product else rank_product(chunks, vectors, model, [q["question"] for q in items])
        kept = sum(any(fold(p) in texts.get(q["path"], "") for p in q["phrases"]) for q in items)
        empty = sum(1 for t in texts.values() if not t)
        site, rel, label = leaks(chunks, chrome, related, content)
        n = len(chunks)
        rows.append(
            [
                name,
                score(dense, items, "dev"),
                score(dense, items, "test"),
                score(product, items, "dev") if product else "–",
                score(product, items, "test") if product else "–",
                f"{min(passes) * 1000:.1f} ms",
                f"{n} ({empty} pages empty)",
                f"{kept / len(items):.3f}",
                f"{site / n:.1%} ({site})",
                f"{rel / n:.1%} ({rel})",
                f"{label / n:.1%} ({label})",
            ]
        )
        print(f"done: {name}", file=sys.stderr, flush=True)
    dev = sum(q["split"] == "dev" for q in items)
    print(
        f"trafilatura {trafilatura.__version__}, lxml {'.'.join(map(str, etree.LXML_VERSION[:3]))}. "
        f"{len(pages)} pages; {len(items)} answerable questions ({dev} dev, {len(items) - dev} test); "
        f"{len(chrome)} site-chrome strings. Retrieval is top-1 / top-3 by page.\n"
    )
    head = [
        "parser",
        "dense dev",
        "dense test",
        "product dev",
        "product test",
        "parse / page",
        "passages",
        "answer phrase kept",
        "site chrome",
        "related links",
        "'Last updated' label",
    ]
    print(table(rows, head))


if __name__ == "__main__":
    main()
