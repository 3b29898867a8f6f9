"""Turn a page's HTML, or a PDF, into its title and heading-delimited sections, without the site's chrome.

HTML goes through the bs4 rules below. They were measured against trafilatura on the sample site
(`bench/parse_compare.py`): retrieval came out the same within two questions of 244 on the dev half,
trafilatura 2.0.0 took about twice as long per page, left a bare "Last updated:" label in a passage of every
page, and dropped table captions and the dates in <time> elements; so the bs4 rules stay."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from content_sync.errors import ParseError

CHROME = [
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "form",
    "nav",
    "footer",
    "aside",
    "[role=navigation]",
    "[role=banner]",
    "[role=contentinfo]",
    "[aria-hidden=true]",
    ".breadcrumb",
    ".breadcrumbs",
    ".cookie-banner",
    ".skip-link",
    ".visually-hidden",
    # "Related links" and "see also" blocks name other pages' topics; as passages they only mislead the search.
    ".related-links",
    ".related",
    ".see-also",
]
# An accordion's <summary> ("How long does it take?") heads the answer folded under it, below any h4.
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6, "summary": 7}
BLOCKS = {"p", "li", "dt", "dd", "blockquote", "pre", "caption", "tr", "address", "figcaption"}
LEAF_CONTAINERS = {"div", "section"}  # text straight inside these counts when they hold no blocks
SPACE = re.compile(r"\s+")
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?)\]])")
SPACE_AFTER_OPENING = re.compile(r"([(\[])\s+")
ROBOTS_NOINDEX = {"noindex", "none"}
# PDF text: a word broken at a line end ("informa-\ntion"), a bullet or number that starts a new block, a line that
# is only a page number ("3", "Page 3", "Page 3 of 8", "3/8"), and PDF metadata titles that name no document.
PDF_HYPHEN_BREAK = re.compile(r"(\w)[-\u2010]\n(?=[a-z])")
PDF_BULLET = re.compile(r"^([•·▪◦‣∙*–-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s")
PDF_PAGE_NUMBER = re.compile(r"^(page\s+)?\d+(\s*(of|/)\s*\d+)?$", re.IGNORECASE)
PDF_NO_TITLE = re.compile(r"^(untitled|title|document\d*)$|\.(docx?|pdf|rtf|odt|indd|pptx?|xlsx?)$", re.IGNORECASE)
PDF_SHORT_LINE = 0.7  # of the page's usual line width: a line this short ends its block
PDF_RUNNING_LINE_WORDS = 12  # a line on every page of a PDF of 3+ pages, and no longer, is a running header/footer
log = logging.getLogger(__name__)


@dataclass
class Section:
    """The text under one heading path, e.g. ("How to appeal", "Ask for a fair hearing")."""

    headings: tuple[str, ...]
    blocks: list[str] = field(default_factory=list)
    page: int | None = None  # the PDF page it is on, counted from 1; None for HTML


@dataclass
class ParsedPage:
    """The readable content of one page."""

    url: str
    title: str
    sections: list[Section]
    last_updated: str | None = None
    links: list[str] = field(default_factory=list)
    language: str | None = None
    noindex: bool = False  # <meta name="robots"> says noindex (or none): the page asks not to be indexed
    pdf_links: list[str] = field(default_factory=list)  # absolute, without fragments, each once, in page order
    canonical: str | None = None  # <link rel="canonical">, absolute

    @property
    def text(self) -> str:
        return "\n".join(block for section in self.sections for block in section.blocks)


def _clean(text: str) -> str:
    """Fold white space; `get_text(" ")` puts a space before punctuation after a link, which goes too."""
    text = SPACE.sub(" ", text).strip()
    return SPACE_AFTER_OPENING.sub(r"\1", SPACE_BEFORE_PUNCTUATION.sub(r"\1", text))


def _main(soup: BeautifulSoup) -> Tag:
    for selector in ("main", "[role=main]", "article", "#main-content", "#content"):
        found = soup.select_one(selector)
        if isinstance(found, Tag):
            return found
    return soup.body if isinstance(soup.body, Tag) else soup


def _noindex(soup: BeautifulSoup) -> bool:
    """`<meta name="robots" content="noindex">` (or `none`); metas for one named crawler are not read."""
    for meta in soup.find_all("meta", attrs={"name": True, "content": True}):
        if not isinstance(meta, Tag) or str(meta["name"]).strip().lower() != "robots":
            continue
        if {token.strip().lower() for token in str(meta["content"]).split(",")} & ROBOTS_NOINDEX:
            return True
    return False


def _canonical(base: str, soup: BeautifulSoup) -> str | None:
    for link in soup.find_all("link", href=True):
        if not isinstance(link, Tag):
            continue
        rel = link.get("rel")
        rels = rel if isinstance(rel, list) else str(rel or "").split()
        href = str(link["href"]).strip()
        if href and "canonical" in {r.lower() for r in rels}:
            return urljoin(base, href)
    return None


def _pdf_links(links: list[str]) -> list[str]:
    found: dict[str, None] = {}
    for link in links:
        url = urldefrag(link)[0]
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.path.lower().endswith(".pdf"):
            found.setdefault(url, None)
    return list(found)


def sections_from(title: str, items: list[tuple[int | None, str]]) -> list[Section]:
    """Heading-delimited sections from (heading level, text) and (None, block text) items in page order: a
    heading closes the section before it and opens one under every shallower heading still open."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    current = Section(headings=(title,))
    for level, text in items:
        if level is None:
            current.blocks.append(text)
            continue
        if current.blocks:
            sections.append(current)
        path = [(lv, t) for lv, t in path if lv < level] + [(level, text)]
        heads = tuple(t for _, t in path)
        current = Section(headings=heads if heads[0] == title else (title, *heads))
    if current.blocks:
        sections.append(current)
    return sections


def parse_page(url: str, html: str) -> ParsedPage:
    """Parse one HTML page. Broken HTML is parsed as far as it goes; nothing here raises on bad markup."""
    soup = BeautifulSoup(html, "lxml")
    base_tag = soup.find("base", href=True)
    base = urljoin(url, str(base_tag["href"]).strip()) if isinstance(base_tag, Tag) else url
    links = [urljoin(base, str(a["href"]).strip()) for a in soup.find_all("a", href=True) if isinstance(a, Tag)]
    noindex, canonical = _noindex(soup), _canonical(base, soup)
    html_tag = soup.find("html")
    language = str(html_tag.get("lang")) if isinstance(html_tag, Tag) and html_tag.get("lang") else None
    main = _main(soup)
    # A <header> inside <main> or <article> is the article's own (its title, an intro); the site's is outside.
    selectors = CHROME if main.name in ("main", "article") else [*CHROME, "header"]
    for selector in selectors:
        for chrome in main.select(selector):
            chrome.decompose()

    last_updated = None
    time_tag = main.select_one(".last-updated time[datetime]") or main.select_one("[class*=updated] time[datetime]")
    if isinstance(time_tag, Tag):
        last_updated = str(time_tag.get("datetime"))
        parent = time_tag.find_parent(class_=re.compile("updated"))
        if isinstance(parent, Tag):
            parent.decompose()
    else:
        modified = soup.select_one('meta[property="article:modified_time"][content]')
        if isinstance(modified, Tag):
            last_updated = str(modified.get("content"))

    h1 = main.find("h1") or soup.find("h1")
    title_tag = soup.find("title")
    title = _clean(h1.get_text(" ")) if h1 else (_clean(title_tag.get_text(" ")) if title_tag else url)

    wanted = list(HEADINGS) + list(BLOCKS) + list(LEAF_CONTAINERS)
    items: list[tuple[int | None, str]] = []  # (heading level, its text), or (None, a block's text)
    for element in main.find_all(wanted):
        if not isinstance(element, Tag):
            continue
        if element.name in LEAF_CONTAINERS and element.find(wanted) is not None:
            continue
        if element.name in HEADINGS:
            text = _clean(element.get_text(" "))
            if text:
                items.append((HEADINGS[element.name], text))
            continue
        # Text of a block nested in another block (an <li> inside a <p>) is taken once, by the outer block.
        if element.find_parent(list(BLOCKS)) is not None:
            continue
        if element.name == "tr":
            text = " | ".join(_clean(cell.get_text(" ")) for cell in element.find_all(["th", "td"]))
        else:
            text = _clean(element.get_text(" "))
        if text:
            items.append((None, text))
    sections = sections_from(title, items)
    return ParsedPage(
        url=url,
        title=title,
        sections=sections,
        last_updated=last_updated,
        links=links,
        language=language,
        noindex=noindex,
        pdf_links=_pdf_links(links),
        canonical=canonical,
    )


def _pdf_lines(text: str) -> list[str]:
    """A page's extracted text as clean lines: ligatures and odd spaces folded, words broken at a line end joined."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = PDF_HYPHEN_BREAK.sub(r"\1", text.replace("\u00ad\n", "").replace("\u00ad", ""))
    return [SPACE.sub(" ", line).strip() for line in text.split("\n")]


def _pdf_blocks(lines: list[str], drop: set[str]) -> list[str]:
    """Lines joined into blocks; page numbers and running lines go. A blank line or a bullet starts a block, and
    so does the line after a short one: wrapped lines run the full width, a paragraph's last line or a heading
    does not."""
    kept = [ln for ln in lines if not ln or not (PDF_PAGE_NUMBER.match(ln) or _running_key(ln) in drop)]
    widths = sorted(len(ln) for ln in kept if ln)
    wide = widths[int(0.8 * (len(widths) - 1))] if widths else 0
    blocks: list[list[str]] = [[]]
    for line in kept:
        if not line or (PDF_BULLET.match(line) and blocks[-1]):
            blocks.append([])
        if line:
            blocks[-1].append(line)
            if len(line) < PDF_SHORT_LINE * wide:
                blocks.append([])
    return [_clean(" ".join(block)) for block in blocks if block]


def _running_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.lower())


def _pdf_title(reader: PdfReader, first_line: str | None, url: str) -> str:
    try:
        title = _clean(str(reader.metadata.title or "")) if reader.metadata else ""
    except (PyPdfError, ValueError, TypeError, KeyError):
        title = ""
    title = title.removeprefix("Microsoft Word - ").strip()
    if title and not PDF_NO_TITLE.search(title) and any(c.isalpha() for c in title):
        return title
    if first_line:
        return first_line[:150]
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ").strip() or url


def _pdf_date(reader: PdfReader) -> str | None:
    try:
        meta = reader.metadata
        when = (meta.modification_date or meta.creation_date) if meta else None
    except (PyPdfError, ValueError, TypeError, KeyError):
        return None
    return when.date().isoformat() if when else None


def _pdf_language(reader: PdfReader) -> str | None:
    try:
        lang = reader.root_object.get("/Lang")
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return (str(lang).strip() or None) if lang else None


def _open_pdf(url: str, content: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(
                f"{url} is a password-protected PDF, so its text cannot be read; "
                "ask the page's owner for a copy without a password"
            )
        len(reader.pages)  # a broken page tree fails here rather than later
    except ParseError:
        raise
    except DependencyError as exc:
        raise ParseError(f"{url} is an AES-encrypted PDF; opening it needs the `cryptography` package ({exc})") from exc
    except (FileNotDecryptedError, NotImplementedError) as exc:
        raise ParseError(f"{url} is an encrypted PDF that cannot be opened here ({exc})") from exc
    except Exception as exc:  # pypdf reading untrusted bytes: anything it raises means the same to a sync
        raise ParseError(
            f"{url} is not a readable PDF ({type(exc).__name__}: {exc}); the file is damaged or is not a PDF"
        ) from exc
    return reader


def parse_pdf(url: str, content: bytes) -> ParsedPage:
    """Parse a PDF: its title, then one section per page headed (title, "Page N") with that page's text.

    The title is the PDF's own (its metadata), unless that is empty or only a file name; then the first line
    of text. Raises ParseError for bytes that are not a readable PDF, or one that needs a password. A PDF with
    no text (a scan) gives a page without sections, which the sync skips as having no readable content.
    """
    reader = _open_pdf(url, content)
    pages: list[list[str]] = []
    failed: Exception | None = None
    for number, pdf_page in enumerate(reader.pages, 1):
        try:
            pages.append(_pdf_lines(pdf_page.extract_text() or ""))
        except Exception as exc:  # one broken page (a bad content stream) does not lose the others
            log.warning("%s: page %d of the PDF could not be read: %s", url, number, exc)
            failed = failed or exc
            pages.append([])
    if failed is not None and not any(any(lines) for lines in pages):
        raise ParseError(f"{url} is not a readable PDF: no page gave text ({type(failed).__name__}: {failed})")
    drop: set[str] = set()
    if len(pages) >= 3:
        counts = Counter(key for lines in pages for key in {_running_key(ln) for ln in lines if ln})
        drop = {key for key, n in counts.items() if n == len(pages) and len(key.split()) <= PDF_RUNNING_LINE_WORDS}
    blocks = [_pdf_blocks(lines, drop) for lines in pages]
    first_line = next(
        (
            ln
            for lines in pages
            for ln in lines
            if ln and not PDF_PAGE_NUMBER.match(ln) and _running_key(ln) not in drop
        ),
        None,
    )
    title = _pdf_title(reader, first_line, url)
    sections = [
        Section(headings=(title, f"Page {number}"), blocks=page_blocks, page=number)
        for number, page_blocks in enumerate(blocks, 1)
        if page_blocks
    ]
    return ParsedPage(
        url=url, title=title, sections=sections, last_updated=_pdf_date(reader), language=_pdf_language(reader)
    )
