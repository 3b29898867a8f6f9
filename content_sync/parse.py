"""Turn a page's HTML into its title and heading-delimited sections, without the site's chrome."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

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


@dataclass
class Section:
    """The text under one heading path, e.g. ("How to appeal", "Ask for a fair hearing")."""

    headings: tuple[str, ...]
    blocks: list[str] = field(default_factory=list)


@dataclass
class ParsedPage:
    """The readable content of one page."""

    url: str
    title: str
    sections: list[Section]
    last_updated: str | None = None
    links: list[str] = field(default_factory=list)
    language: str | None = None

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


def parse_page(url: str, html: str) -> ParsedPage:
    """Parse one HTML page. Broken HTML is parsed as far as it goes; nothing here raises on bad markup."""
    soup = BeautifulSoup(html, "lxml")
    links = [urljoin(url, str(a["href"])) for a in soup.find_all("a", href=True) if isinstance(a, Tag)]
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

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    current = Section(headings=(title,))
    wanted = list(HEADINGS) + list(BLOCKS) + list(LEAF_CONTAINERS)
    for element in main.find_all(wanted):
        if not isinstance(element, Tag):
            continue
        if element.name in LEAF_CONTAINERS and element.find(wanted) is not None:
            continue
        if element.name in HEADINGS:
            level, text = HEADINGS[element.name], _clean(element.get_text(" "))
            if not text:
                continue
            if current.blocks:
                sections.append(current)
            path = [(lv, t) for lv, t in path if lv < level] + [(level, text)]
            heads = tuple(t for _, t in path)
            current = Section(headings=heads if heads[0] == title else (title, *heads))
            continue
        # Text of a block nested in another block (an <li> inside a <p>) is taken once, by the outer block.
        if element.find_parent(list(BLOCKS)) is not None:
            continue
        if element.name == "tr":
            text = " | ".join(_clean(cell.get_text(" ")) for cell in element.find_all(["th", "td"]))
        else:
            text = _clean(element.get_text(" "))
        if text:
            current.blocks.append(text)
    if current.blocks:
        sections.append(current)
    return ParsedPage(
        url=url, title=title, sections=sections, last_updated=last_updated, links=links, language=language
    )
