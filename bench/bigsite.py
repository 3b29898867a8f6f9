"""A large, realistic agency site for the sync benchmark, generated deterministically from a seed.

100 programmes (Winter Heating Assistance, Lead Pipe Replacement Grant, ...) × 10 page kinds (overview,
eligibility, amounts, apply, documents, renewals, payments, appeals, FAQ, offices) = 1,000 pages under
`/<programme-slug>/<kind>.html`, with the site's chrome (cookie banner, header, navigation, breadcrumb, related
links, footer), several heading-delimited sections a page, tables, accordions, lists, and phone numbers repeated
on every page of a programme and in every footer. A `sitemap.xml` with `<lastmod>` and a `robots.txt` use the
`{{BASE_URL}}` placeholder that `content_sync.sample_site` fills in.

Every page carries one *fact*: a sentence with a value (an amount, a deadline, a number of days) and a question
that should find it, e.g. "What is the application deadline for the Winter Heating Assistance?". A fact has
variants 0, 1, 2, ...; variant 0 is the published site, and `write_page(root, page, variant)` rewrites one page
in place with another value, so a benchmark can tell from a reply whether the new sentence is being served.

    .venv/bin/python bench/bigsite.py /tmp/site --pages 1000   # write a site to look at
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
from dataclasses import dataclass
from html import escape
from pathlib import Path

# fmt: off
TOPICS = [
    "Winter Heating", "Summer Cooling", "Emergency Rent", "Child Care", "School Meals", "Family Food",
    "Water Bill", "Home Broadband", "Transit Fare", "Eyeglasses", "Dental Care", "Hearing Aid",
    "Home Repair", "Wheelchair Ramp", "Veteran Housing", "Foster Care", "Adoption Support", "Kinship Care",
    "Burial Costs", "Newborn Essentials", "Diaper Supply", "Family Caregiver", "Disability Living",
    "Job Training", "Apprenticeship Wage", "Small Farm", "Energy Efficiency", "Moving Costs",
    "Emergency Shelter", "Safe Relocation", "Civil Legal Aid", "Property Tax Deferral", "Senior Meals",
    "Respite Care", "Medical Travel", "Prescription Cost", "Student Housing", "Youth Employment",
    "Winter Clothing", "Back to School", "Community College Tuition", "Storm Recovery", "Flood Relief",
    "Wildfire Recovery", "Crop Loss", "Fishing Fleet", "Business Startup", "Paid Family Leave",
    "English Classes", "Citizenship Fee", "Senior Bus Pass", "Car Repair", "Driver Training",
    "Lead Pipe Replacement", "Private Well Testing", "Septic System Repair", "Rooftop Solar",
    "Attic Insulation", "Utility Arrears", "Security Deposit", "First Home Down Payment", "Mobile Home Repair",
    "Accessible Bathroom", "Hospice Family", "Cancer Patient Travel", "Dialysis Transport", "Mental Health Counselling",
    "Addiction Recovery Housing", "Reentry Housing", "Work Boots", "Childbirth Class", "Breast Pump Loan",
    "Infant Formula", "Summer Camp", "After School", "Teen Driver Insurance", "Sports Equipment",
    "Musical Instrument", "Library Laptop", "Digital Skills", "Tax Preparation", "Debt Counselling",
    "Eviction Defence", "Tenant Mediation", "Heat Pump", "Air Purifier", "Cooling Centre Transport",
    "Farmworker Housing", "Tribal Elder", "Refugee Resettlement", "Domestic Worker", "Gig Worker Injury",
    "Caregiver Respite", "Hoarding Cleanup", "Pest Control", "Mould Removal", "Radon Testing",
    "Tree Removal", "Snow Removal", "Guide Dog", "Sign Language Interpreter",
]
SUFFIXES = ["Assistance", "Grant", "Allowance", "Credit", "Subsidy", "Programme", "Fund", "Voucher", "Rebate"]
KINDS = ["overview", "eligibility", "amounts", "apply", "documents", "renew", "payments", "appeals", "faq", "offices"]
KIND_TITLES = {
    "overview": "overview",
    "eligibility": "who can get it",
    "amounts": "how much you can get",
    "apply": "how to apply",
    "documents": "documents you need",
    "renew": "renewing your benefit",
    "payments": "payment dates",
    "appeals": "appeals and complaints",
    "faq": "frequently asked questions",
    "offices": "offices and opening hours",
}
COUNTIES = ["Harrowgate", "Greyfield", "Ashcombe", "Lowmere", "Eastbrook", "Pinecrest", "Saltmarsh", "Redwater"]
STREETS = ["Lantern Street", "Mill Road", "Orchard Lane", "Quarry Hill", "Station Square", "Bridge Street"]
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]
# fmt: on
CUSTOMER_SERVICE = "(555) 010-2000"
FRAUD_LINE = "(555) 010-2990"

# Boilerplate the agency repeats across pages, as real sites do ({p} is the programme's name).
GENERIC = [
    "We aim to treat every application fairly and in the order we receive it.",
    "If you need this information in another language or format, call {phone} and ask for language services.",
    "You can ask someone you trust, such as a relative or a caseworker, to help you with the {p}.",
    "We will never ask you to pay a fee to apply for the {p}.",
    "If your circumstances change, tell us within 10 days so that we pay you the right amount.",
    "Keep a copy of everything you send us, and write your case number on every page.",
    "Call the {p} line at {phone} if you are not sure what to do next.",
    "Most questions about the {p} can be answered by the line at {phone}, Monday to Friday.",
    "Our staff can meet you at a local office if you cannot use a computer.",
    "Information you give us is kept private and used only to decide your benefit.",
    "If we paid you too much, we will write to explain why and how you can pay it back.",
    "You will get a letter from us explaining every decision we make about the {p}.",
    "Payments from the {p} do not count as income for most other benefits.",
    "You can get the {p} and other help from the department at the same time.",
    "Report suspected fraud to the fraud line at " + FRAUD_LINE + "; you do not have to give your name.",
    "Interpreters are free, and you can ask for one at any office.",
    "If you are deaf or hard of hearing, use Westmarch Relay 711 to call {phone}.",
    "A household means the people who live together and share meals.",
]
REASONS = [
    "your income went up",
    "someone moved in or out",
    "you moved to another county",
    "you started work",
    "you stopped work",
    "you had a baby",
    "you went into hospital",
    "your rent changed",
]


@dataclass(frozen=True)
class Page:
    """One page of the site: where it lives and what question finds its fact."""

    n: int
    programme: str
    kind: str
    path: str
    title: str
    question: str

    def url(self, base: str) -> str:
        return f"{base}/{self.path}"


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def programmes(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        topic = TOPICS[n % len(TOPICS)]
        extra = f" {COUNTIES[(n // len(TOPICS)) % len(COUNTIES)]}" if n >= len(TOPICS) else ""
        out.append(f"{topic}{extra} {rng.choice(SUFFIXES)}")
    return out


class Site:
    """The page list and every page's HTML, all from `seed`."""

    def __init__(self, pages: int = 1000, seed: int = 7) -> None:
        self.seed = seed
        self.count = pages
        self.names = programmes((pages + len(KINDS) - 1) // len(KINDS) + 10, seed)

    def page(self, n: int) -> Page:
        """Page `n`; numbers from `count` on are pages a later version of the site adds."""
        name = self.names[n // len(KINDS)]
        kind = KINDS[n % len(KINDS)]
        question = self._fact(n, 0)[1]
        return Page(n, name, kind, f"{slug(name)}/{kind}.html", f"{name}: {KIND_TITLES[kind]}", question)

    def pages(self) -> list[Page]:
        return [self.page(n) for n in range(self.count)]

    def phone(self, n: int) -> str:
        programme = n // len(KINDS)
        return f"(555) 01{programme % 10}-{2100 + programme * 7:04d}"

    def _fact(self, n: int, variant: int) -> tuple[str, str, str]:
        """(sentence, question, the part of the sentence that changes between variants)."""
        rng = random.Random(self.seed * 1_000_003 + n)
        p = self.names[n // len(KINDS)]
        kind = KINDS[n % len(KINDS)]
        day = dt.date(2027, 1, 1) + dt.timedelta(days=rng.randrange(300) + 3 * variant)
        date = f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
        if kind == "overview":
            value = f"opens on {date}"
            return f"Enrolment for the {p} {value}.", f"When does enrolment open for the {p}?", value
        if kind == "eligibility":
            value = f"below ${rng.randrange(21_000, 79_000) + 137 * variant:,}"
            sentence = f"To qualify for the {p}, your household's yearly income must be {value}."
            return sentence, f"What is the yearly income limit for the {p}?", value
        if kind == "amounts":
            value = f"at most ${rng.randrange(150, 2_400) + 13 * variant:,} a month"
            sentence = f"The {p} pays {value} to one household."
            return sentence, f"What is the most the {p} pays a month?", value
        if kind == "apply":
            value = f"must reach us by {date}"
            return f"Applications for the {p} {value}.", f"What is the application deadline for the {p}?", value
        if kind == "documents":
            value = f"within the last {rng.randrange(30, 90) + variant} days"
            sentence = f"Proof of income you send for the {p} must be dated {value}."
            return sentence, f"How recent must proof of income for the {p} be?", value
        if kind == "renew":
            value = f"renewal deadline for the {p} is {date}"
            return f"The next {value}.", f"When is the next renewal deadline for the {p}?", value
        if kind == "payments":
            d = (rng.randrange(1, 20) + variant) % 28 + 1
            value = f"on day {d} of each month"
            sentence = f"{p} payments are sent {value}."
            return sentence, f"On which day of the month are {p} payments sent?", value
        if kind == "appeals":
            value = f"You have {rng.randrange(20, 60) + variant} days"
            sentence = f"{value} from the date of the decision letter to appeal a {p} decision."
            return sentence, f"How many days do I have to appeal a {p} decision?", value
        if kind == "faq":
            value = f"decided within {rng.randrange(10, 45) + variant} working days"
            sentence = f"Most {p} applications are {value}."
            return sentence, f"How long does it take to decide a {p} application?", value
        at = 16 * 60 + rng.randrange(4) * 15 + 5 * variant  # minutes after midnight, 4 p.m. or later
        value = f"closes at {(at // 60 - 1) % 12 + 1}:{at % 60:02d} p.m. on Thursdays"
        sentence = f"The {p} walk-in desk {value}."
        return sentence, f"What time does the {p} walk-in desk close on Thursdays?", value

    def fact(self, n: int, variant: int = 0) -> tuple[str, str]:
        """The fact sentence of page `n` in a variant, and the value a reply must quote to show it."""
        sentence, _, value = self._fact(n, variant)
        return sentence, value

    # ----- page bodies -----

    def _generic(self, rng: random.Random, n: int, k: int) -> str:
        p, phone = self.names[n // len(KINDS)], self.phone(n)
        return " ".join(s.format(p=p, phone=phone) for s in rng.sample(GENERIC, k))

    def _sections(self, n: int, variant: int) -> list[str]:
        rng = random.Random(self.seed * 7_919 + n)
        p, kind, phone = self.names[n // len(KINDS)], KINDS[n % len(KINDS)], self.phone(n)
        fact = escape(self._fact(n, variant)[0])
        limit = rng.randrange(18_000, 30_000)
        rows = "".join(
            f"<tr><td>{size}</td><td>${limit + (size - 1) * rng.randrange(5_000, 7_000):,}</td></tr>"
            for size in range(1, 7)
        )
        income_table = (
            "<table><caption>Yearly income limits by household size</caption>"
            '<thead><tr><th scope="col">People in the household</th><th scope="col">Income limit</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
        county_rows = "".join(
            f"<tr><td>{c}</td><td>{rng.randrange(8, 10)} a.m. to {rng.randrange(4, 6)} p.m.</td>"
            f"<td>{rng.randrange(10, 99)} {rng.choice(STREETS)}</td></tr>"
            for c in rng.sample(COUNTIES, 4)
        )
        office_table = (
            f"<table><caption>{escape(p)} offices</caption><thead><tr><th>County</th><th>Hours</th>"
            f"<th>Address</th></tr></thead><tbody>{county_rows}</tbody></table>"
        )
        intro = (
            f"<p>The {escape(p)} helps households in Westmarch with the cost of "
            f"{escape(p.rsplit(' ', 1)[0].lower())}. {escape(self._generic(rng, n, 1))}</p>"
        )
        reasons = "".join(f"<li>{r};</li>" for r in rng.sample(REASONS, 4))
        contact = (
            f"<h2>Contact the {escape(p)} team</h2><p>Call {phone}, Monday to Friday, 8 a.m. to 5 p.m. "
            f"{escape(self._generic(rng, n, 2))}</p>"
        )
        body = {
            "overview": [
                intro,
                f"<h2>What the {escape(p)} is for</h2><p>{fact} {escape(self._generic(rng, n, 3))}</p>",
                f"<h2>Who it is for</h2><ul><li>people who live in Westmarch;</li><li>households with a low "
                f"income;</li><li>people who are not already getting the same help elsewhere.</li></ul>"
                f"<p>{escape(self._generic(rng, n, 2))}</p>",
                f"<h2>How to get it</h2><p>Apply online, by post or at an office. {escape(self._generic(rng, n, 2))}"
                "</p>",
            ],
            "eligibility": [
                intro,
                f"<h2>Income limits</h2><p>{fact} The limits below are for the current year.</p>{income_table}",
                "<h2>Where you live</h2><p>You must live in Westmarch, and you must plan to stay. "
                f"{escape(self._generic(rng, n, 2))}</p>",
                f"<h3>If you do not qualify</h3><p>{escape(self._generic(rng, n, 3))}</p>",
            ],
            "amounts": [
                intro,
                f"<h2>How much the {escape(p)} pays</h2><p>{fact} The amount depends on your income and the "
                f"number of people in your household.</p>{income_table}",
                f"<h2>What we take off</h2><p>We subtract other help you already get for the same cost. "
                f"{escape(self._generic(rng, n, 2))}</p>",
                f"<h2>Example</h2><p>A family of {rng.randrange(2, 6)} in {rng.choice(COUNTIES)} earning "
                f"${rng.randrange(15_000, 40_000):,} a year applies. We work out their amount in about "
                f"{rng.randrange(5, 15)} working days and write to tell them. {escape(self._generic(rng, n, 1))}</p>",
            ],
            "apply": [
                intro,
                f"<h2>Deadline</h2><p>{fact} Late applications are considered only if you had a good reason. "
                f"{escape(self._generic(rng, n, 1))}</p>",
                f"<h2>Ways to apply</h2><ol><li>online, at any time;</li><li>by post to {rng.randrange(10, 99)} "
                f"{rng.choice(STREETS)}, Harrowgate;</li><li>at an office, or by phone at {phone}.</li></ol>",
                f"<h2>What happens next</h2><p>{escape(self._generic(rng, n, 3))}</p>",
            ],
            "documents": [
                intro,
                f"<h2>Proof of income</h2><p>{fact} Pay slips, a benefit letter or a tax return are accepted. "
                f"{escape(self._generic(rng, n, 1))}</p>",
                "<h2>Proof of identity and address</h2><ul><li>a driving licence or state ID card;</li><li>a "
                "passport;</li><li>a utility bill or lease in your name.</li></ul>"
                f"<p>{escape(self._generic(rng, n, 1))}</p>",
                f"<h2>Sending documents</h2><p>{escape(self._generic(rng, n, 3))}</p>",
            ],
            "renew": [
                intro,
                f"<h2>When to renew</h2><p>{fact} We send a renewal form about 45 days before it. "
                f"{escape(self._generic(rng, n, 1))}</p>",
                f"<h2>Tell us about changes</h2><p>Tell us if:</p><ul>{reasons}</ul>"
                f"<p>{escape(self._generic(rng, n, 1))}</p>",
                f"<h2>If you miss the deadline</h2><p>Your payments stop. {escape(self._generic(rng, n, 2))}</p>",
            ],
            "payments": [
                intro,
                f"<h2>Payment dates</h2><p>{fact} If that day is a weekend or holiday, you are paid the working "
                "day before.</p>",
                f"<h2>How you are paid</h2><p>By direct deposit or on a Westmarch benefits card. "
                f"{escape(self._generic(rng, n, 2))}</p>",
                f"<h2>If a payment is late</h2><p>Wait 2 working days, then call {phone}. "
                f"{escape(self._generic(rng, n, 2))}</p>",
            ],
            "appeals": [
                intro,
                f"<h2>Asking for a fair hearing</h2><p>{fact} Ask in writing, by phone at {phone}, or at any "
                f"office. {escape(self._generic(rng, n, 1))}</p>",
                f"<h2>Keeping your payments during an appeal</h2><p>If you appeal within 10 days, your payments "
                f"continue until the hearing decides. {escape(self._generic(rng, n, 2))}</p>",
                f"<h2>Complaints</h2><p>{escape(self._generic(rng, n, 3))}</p>",
            ],
            "faq": [
                intro,
                f"<details><summary>How long does a decision take?</summary><p>{fact} We write to you with the "
                "decision.</p></details>",
                f"<details><summary>Can I apply for someone else?</summary><p>Yes, with their permission. "
                f"{escape(self._generic(rng, n, 1))}</p></details>",
                f"<details><summary>Does it affect my other benefits?</summary><p>{escape(self._generic(rng, n, 2))}"
                "</p></details>",
                f"<details><summary>What if I move?</summary><p>{escape(self._generic(rng, n, 2))}</p></details>",
            ],
            "offices": [
                intro,
                f"<h2>Walk-in desk</h2><p>{fact} No appointment is needed. {escape(self._generic(rng, n, 1))}</p>",
                f"<h2>County offices</h2>{office_table}",
                f"<h2>Accessibility</h2><p>Every office has step-free access. {escape(self._generic(rng, n, 2))}</p>",
            ],
        }[kind]
        return [*body, contact]

    def html(self, n: int, variant: int = 0) -> str:
        page = self.page(n)
        p = escape(page.programme)
        base = slug(page.programme)
        related = "".join(
            f'<li><a href="/{base}/{k}.html">{escape(KIND_TITLES[k].capitalize())}</a></li>'
            for k in KINDS
            if k != page.kind
        )
        updated = dt.date(2026, 6, 1) + dt.timedelta(days=(n * 37 + variant * 11) % 180)
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{escape(page.title)} | Westmarch Department of Family Benefits</title>
  <meta name="description" content="{escape(page.title)}.">
  <link rel="stylesheet" href="/static/site.css">
  <script>window.wdfbAnalytics = window.wdfbAnalytics || []; window.wdfbAnalytics.push({{event: "pageview"}});</script>
</head>
<body>
  <a class="skip-link" href="#main-content">Skip to main content</a>
  <div class="cookie-banner" role="region" aria-label="Cookie notice">
    <p>This website uses cookies to remember your language choice and to count visits.
    <a href="/privacy.html">Read our privacy policy</a>.</p>
  </div>
  <header class="site-header">
    <div class="official-banner">An official website of the State of Westmarch</div>
    <a class="logo" href="/">Westmarch Department of Family Benefits</a>
    <nav aria-label="Main"><ul>
      <li><a href="/{base}/overview.html">{p}</a></li>
      <li><a href="/{base}/apply.html">Apply</a></li>
      <li><a href="/{base}/payments.html">Payments</a></li>
      <li><a href="/{base}/appeals.html">Appeals</a></li>
      <li><a href="/{base}/offices.html">Contact</a></li>
    </ul></nav>
  </header>
  <nav aria-label="Breadcrumb" class="breadcrumb"><ol>
    <li><a href="/">Home</a></li><li><a href="/{base}/overview.html">{p}</a></li>
    <li aria-current="page">{escape(KIND_TITLES[page.kind].capitalize())}</li>
  </ol></nav>
  <main id="main-content">
    <h1>{escape(page.title)}</h1>
    {chr(10).join("    " + s for s in self._sections(n, variant)).strip()}
    <aside class="related-links"><h2>Related links</h2><ul>{related}</ul></aside>
    <p class="last-updated">Last updated: <time datetime="{updated.isoformat()}">{updated:%B %d, %Y}</time></p>
  </main>
  <footer class="site-footer">
    <p><strong>Westmarch Department of Family Benefits</strong><br>400 Lantern Street, Harrowgate, WM 80412</p>
    <p>Customer Service Center: {CUSTOMER_SERVICE} &middot; TTY: Westmarch Relay 711 &middot; Fraud line:
    {FRAUD_LINE}</p>
    <ul class="footer-links"><li><a href="/accessibility.html">Accessibility</a></li>
    <li><a href="/internal/staff.html">Staff intranet</a></li></ul>
  </footer>
</body>
</html>
"""


def _atomic_write(path: Path, text: str) -> None:
    """Replace a file whole, so the server never sends half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_sitemap(root: Path, site: Site, numbers: list[int], variants: dict[int, int]) -> None:
    entries = []
    for n in numbers:
        updated = dt.date(2026, 6, 1) + dt.timedelta(days=(n * 37 + variants.get(n, 0) * 11) % 180)
        entries.append(
            f"  <url>\n    <loc>{{{{BASE_URL}}}}/{site.page(n).path}</loc>\n"
            f"    <lastmod>{updated.isoformat()}</lastmod>\n  </url>\n"
        )
    _atomic_write(
        root / "sitemap.xml",
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "".join(entries)
        + "</urlset>\n",
    )


class LiveSite:
    """A generated site on disk, changed in place while it is served."""

    def __init__(self, root: Path, pages: int = 1000, seed: int = 7) -> None:
        self.root = root
        self.site = Site(pages, seed)
        self.live: list[int] = list(range(pages))
        self.variants: dict[int, int] = {}

    def write(self) -> LiveSite:
        """Write version 1: every page, the sitemap and robots.txt."""
        for n in self.live:
            _atomic_write(self.root / self.site.page(n).path, self.site.html(n))
        (self.root / "internal").mkdir(parents=True, exist_ok=True)
        staff = "<html><body><main><p>Staff only.</p></main></body></html>"
        _atomic_write(self.root / "internal" / "staff.html", staff)
        _atomic_write(
            self.root / "robots.txt", "User-agent: *\nDisallow: /internal/\nSitemap: {{BASE_URL}}/sitemap.xml\n"
        )
        write_sitemap(self.root, self.site, self.live, self.variants)
        return self

    def change(self, numbers: list[int], variant: int | None = None) -> None:
        """Rewrite pages with another value of their fact (the next variant, or `variant`), and the sitemap."""
        for n in numbers:
            self.variants[n] = variant if variant is not None else self.variants.get(n, 0) + 1
            _atomic_write(self.root / self.site.page(n).path, self.site.html(n, self.variants[n]))
        write_sitemap(self.root, self.site, self.live, self.variants)

    def second_version(self, changed: int = 10, deleted: int = 5, added: int = 5) -> dict[str, list[int]]:
        """Version 2: `changed` pages get a new fact value, `deleted` are removed, `added` new pages appear."""
        rng = random.Random(self.site.seed + 2)
        picked = rng.sample(self.live, changed + deleted)
        gone, edits = picked[:deleted], picked[deleted:]
        new = list(range(self.site.count, self.site.count + added))
        for n in gone:
            (self.root / self.site.page(n).path).unlink()
            self.live.remove(n)
        for n in new:
            _atomic_write(self.root / self.site.page(n).path, self.site.html(n))
            self.live.append(n)
        self.change(edits)
        return {"changed": edits, "deleted": gone, "added": new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder to write the site into")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    LiveSite(args.root, args.pages, args.seed).write()
    print(f"wrote {args.pages} pages to {args.root}; serve with: python -m content_sync.sample_site --root {args.root}")


if __name__ == "__main__":
    main()
