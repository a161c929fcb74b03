# Texts in other scripts and typographic look-alikes are what these tests are about.
# ruff: noqa: RUF001
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.ingest.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicateIndex,
    headline_words,
    headlines_agree,
    shingles,
    signature,
    similarity,
)

ROOT = Path(__file__).resolve().parents[2]

# Made-up wire stories as ingest sees them: title, newline, summary.
FIRE = (
    "Riverton factory fire kills 12, dozens injured\n"
    "A fire tore through a textile factory in the industrial district of Riverton on Tuesday, "
    "killing at least 12 workers and injuring 37 others, the regional fire service said. "
    "The blaze broke out shortly after 9 a.m. on the second floor of the four-storey building "
    "and took more than five hours to bring under control. Fire chief Marta Keller said "
    "investigators were examining whether a faulty electrical panel had caused the fire. "
    "The factory's owner, Halden Textiles, said it was cooperating fully with the authorities."
)
RATES = (
    "Central bank holds rates steady, signals cut later this year\n"
    "The Bank of Norland kept its benchmark interest rate unchanged at 4.25% on Thursday "
    "but said it expected to begin lowering borrowing costs before the end of the year as "
    "inflation cools. Governor Elias Brandt told reporters that price pressures had eased "
    "faster than forecast in the spring, although wage growth remained strong. "
    "Markets had priced in a small chance of a cut at this meeting."
)
STORM = (
    "Storm Hilda cuts power to 200,000 homes along the coast\n"
    "Storm Hilda brought winds of up to 140 km/h to the western coast overnight, "
    "cutting power to around 200,000 homes and forcing the closure of three ports, "
    "utility operator GridWest said on Sunday. Crews were working to restore electricity, "
    "but some rural areas could remain without power until Tuesday, the company said. "
    "The national weather office kept a red warning in place for the coastal counties."
)
JOBS = (
    "Automaker Veltra to cut 3,000 jobs in restructuring\n"
    "Veltra Motors will cut about 3,000 jobs, or 8% of its workforce, over the next two "
    "years as it shifts investment toward electric vehicles, the carmaker said on Monday. "
    "Chief executive Dana Ruiz said most of the cuts would come through voluntary departures "
    "and early retirement. Unions said they would fight any forced redundancies at the "
    "company's two assembly plants."
)
COURT = (
    "Court blocks government plan to sell state rail operator\n"
    "The constitutional court on Wednesday suspended the government's plan to sell a majority "
    "stake in the state rail operator, saying parliament had not been properly consulted. "
    "The ruling is a setback for Finance Minister Paulo Serrano, who had hoped to raise "
    "about 2 billion euros from the sale this year. The government said it would study the "
    "decision before deciding whether to resubmit the plan."
)
WRECK = (
    "Explorers find wreck of 18th-century warship off Cape Morrow\n"
    "Marine archaeologists have located the wreck of the Resolute, a warship that sank in a "
    "storm off Cape Morrow in 1761, lying at a depth of 60 metres, the national maritime "
    "museum said on Friday. Divers recovered a bronze bell bearing the ship's name, which "
    "confirmed the identification. The museum plans to survey the site with underwater drones "
    "next summer before deciding whether any objects can be raised."
)
RECALL = (
    "Veltra recalls 40,000 SUVs over brake fault\n"
    "Veltra Motors is recalling about 40,000 Terra SUVs because a brake hose can wear "
    "through and leak fluid, the company said on Tuesday. No crashes have been linked to the fault."
)
RESERVES = (
    "央行宣布下调存款准备金率\n"
    "中国人民银行周五宣布，自下周一起下调金融机构存款准备金率0.5个百分点，预计释放长期资金约一万亿元。"
    "央行表示，此举旨在保持流动性合理充裕，支持实体经济发展。"
)

COPIES = [
    (
        FIRE,
        FIRE.replace(
            "Riverton factory fire kills 12, dozens injured",
            "RIVERTON FACTORY FIRE KILLS 12 — DOZENS INJURED",
        )
        + " (Reporting by Anna Lind; Editing by Mark Potter)",
    ),
    (
        RATES,
        RATES.replace("Thursday ", "Thursday&nbsp;").replace("cools. ", "cools.<br/> ")
        + ' <a href="https://example.com/rates">Read more</a>',
    ),
    (STORM, STORM.replace("Storm Hilda brought", "PORT ELLIS (AP) — Storm Hilda brought")),
    (JOBS, JOBS + " Veltra shares rose 3% in early trading."),
    (
        COURT,
        COURT.replace("government's", "government’s").replace("2 billion", "２\u00a0billion"),
    ),
    (
        WRECK,
        "Explorers find wreck of 18th-century warship off Cape Morrow - Harbor Daily\n"
        + WRECK.split("\n")[1],
    ),
    (
        FIRE,
        "Riverton factory fire kills 12, dozens injured | Northern Courier\n" + FIRE.split("\n")[1],
    ),
    (RECALL, RECALL.replace("over brake fault", "Over Brake Fault") + "\n(Reporting by Anna Lind)"),
    (RECALL, RECALL + " Owners will be notified by mail."),
    (RESERVES, RESERVES.replace("宣布下调", "宣布：下调") + "（记者 王明 报道）"),
]
COPY_IDS = [
    "headline-case-and-credit-line",
    "html-remnants",
    "dateline-and-agency",
    "extra-sentence",
    "typography",
    "outlet-after-a-dash",
    "outlet-after-a-bar",
    "short-summary-credit-line",
    "short-summary-extra-sentence",
    "chinese-credit-line",
]

# The same event written up independently: same names and numbers, other words.
INDEPENDENT = [
    (
        FIRE,
        "Twelve dead as blaze engulfs Riverton textile plant\n"
        "At least 12 people died and 37 were hurt when flames swept through a four-storey "
        "Halden Textiles factory in Riverton on Tuesday morning. Firefighters battled the blaze "
        "for over five hours. Fire chief Marta Keller told local radio that a faulty electrical "
        "panel was one possible cause under investigation. Halden Textiles said it was working "
        "with investigators.",
    ),
    (
        RATES,
        "Norland central bank leaves rates at 4.25%, eyes cut by year-end\n"
        "Norland's central bank left borrowing costs on hold at 4.25 percent on Thursday. "
        "Governor Elias Brandt said inflation had slowed more quickly than expected this spring "
        "and that a rate cut was likely before the year is out, even as wages keep rising. "
        "Investors had seen only a slim chance of a move this week.",
    ),
    (
        STORM,
        "200,000 without electricity after Storm Hilda lashes west coast\n"
        "Around 200,000 households lost power when Storm Hilda hit the west coast with gusts "
        "reaching 140 km/h during the night. GridWest said on Sunday its engineers were "
        "reconnecting customers, though remote villages may wait until Tuesday. Three ports "
        "were shut and a red weather warning remains in force.",
    ),
    (
        JOBS,
        "Veltra Motors plans 3,000 job cuts as it pivots to EVs\n"
        "Carmaker Veltra Motors said on Monday it would shed roughly 3,000 positions, about 8% "
        "of staff, within two years to free up money for electric models. CEO Dana Ruiz said "
        "voluntary exits and early retirements would account for most of the reductions. "
        "Trade unions vowed to resist compulsory layoffs at both assembly plants.",
    ),
    (
        COURT,
        "Top court halts sale of state railway stake\n"
        "The sale of a majority stake in the state-owned railway was put on hold on Wednesday "
        "after the constitutional court found that lawmakers had not been consulted properly. "
        "The decision deals a blow to Finance Minister Paulo Serrano, who was counting on "
        "around 2 billion euros in proceeds this year. Officials said they were reviewing the "
        "ruling.",
    ),
    (
        WRECK,
        "Resolute warship found 263 years after it sank off Cape Morrow\n"
        "The Resolute, which went down in a storm off Cape Morrow in 1761, has been found "
        "60 metres below the surface, according to the national maritime museum. A bronze "
        "bell engraved with the ship's name allowed researchers to confirm the find on Friday. "
        "Underwater drones will map the wreck next summer.",
    ),
    (
        FIRE,
        "Riverton factory fire death toll rises to 15\n"
        "The death toll from Tuesday's fire at a textile factory in Riverton rose to 15 on "
        "Wednesday after three injured workers died in hospital, the regional health authority "
        "said. Fire chief Marta Keller said investigators had found no emergency exits on the "
        "second floor, where the fire broke out. Halden Textiles declined to comment.",
    ),
    (
        RESERVES,
        "人民银行降准0.5个百分点 释放资金约1万亿元\n"
        "为支持实体经济，中国人民银行决定下周一起将存款准备金率降低0.5个百分点。"
        "分析人士认为，此次降准将向市场提供约一万亿元长期流动性。",
    ),
]
INDEPENDENT_IDS = [
    "fire",
    "rates",
    "storm",
    "job-cuts",
    "court",
    "shipwreck",
    "follow-up-same-wire",
    "chinese",
]

PAYWALL = (
    "Subscribe to continue reading. Already a subscriber? Log in to your account to read "
    "this story and all of our local coverage. Check your email to activate your digital "
    "access, or call our customer service team for help with your subscription today. "
    "Verification of your account is needed before you can read on."
)
# One site's paywall notice as the feed's summary of three articles on three incidents.
TEASERS = [
    "Man shot outside Eastside convenience store, police say\n" + PAYWALL,
    "Teenager wounded in drive-by shooting on Route 9\n" + PAYWALL,
    "Police: woman killed by stray bullet in her apartment\n" + PAYWALL,
]

# Headline-only items (a feed without summaries): different headlines are different items.
HEADLINES_ONLY = [
    ("Riverton factory fire kills 12\n", "12 killed in Riverton factory fire\n"),
    ("Storm Hilda cuts power to 200,000 homes\n", "Storm Hilda cuts power to 300,000 homes\n"),
    (
        "Live: Norland election results and reaction, day 2\n",
        "Live: Norland election results and reaction, day 3\n",
    ),
    (
        "Live updates: Norland votes in snap parliamentary election as polls open, day 2\n",
        "Live updates: Norland votes in snap parliamentary election as polls open, day 3\n",
    ),
    ("Markets today: stocks fall as oil jumps\n", "Markets today: stocks rise as oil slips\n"),
    ("Breaking: Veltra to cut 3,000 jobs\n", "Breaking: Veltra shares jump 3%\n"),
    ("Weather\n", "Sport\n"),
]
HEADLINES_ONLY_IDS = [
    "same-event",
    "one-number-changed",
    "live-blog-days",
    "long-live-blog-days",
    "shared-prefix",
    "breaking-prefix",
    "one-word",
]


@pytest.mark.parametrize(
    ("text", "k", "expected"),
    [
        (
            "Hello, World! How are you today",
            5,
            {"hello world how are you", "world how are you today"},
        ),
        ("STOCKS   rally —\n\toil SLIPS!", 3, {"stocks rally oil", "rally oil slips"}),
        ("<p>Stocks&nbsp;rally &amp; oil slips</p>", 3, {"stocks rally oil", "rally oil slips"}),
        ("ﬁnal Ｓcore ２０２４", 3, {"final score 2024"}),
        ("Storm hits coast", 5, {"storm hits coast"}),
        ("", 5, set()),
        (" — !!! <br/> ", 5, set()),
        ("股市大跌", 2, {"股 市", "市 大", "大 跌"}),
        ("केंद्रीय बैंक ने दरें बढ़ाईं", 1, {"केंद्रीय", "बैंक", "ने", "दरें", "बढ़ाईं"}),
    ],
    ids=[
        "two-shingles",
        "case-punctuation-whitespace",
        "html",
        "nfkc",
        "fewer-words-than-k",
        "empty",
        "nothing-but-punctuation",
        "chinese-characters-are-words",
        "hindi-vowel-signs-stay-in-words",
    ],
)
def test_shingles(text: str, k: int, expected: set[str]) -> None:
    assert shingles(text, k) == expected


@pytest.mark.parametrize(
    ("num_perm", "size"), [(128, 512), (64, 256)], ids=["default", "64-permutations"]
)
def test_signature_is_four_bytes_per_permutation(num_perm: int, size: int) -> None:
    sig = signature(FIRE, num_perm=num_perm)
    assert isinstance(sig, bytes)
    assert len(sig) == size
    assert signature(FIRE, num_perm=num_perm) == sig
    assert signature(FIRE, num_perm=num_perm, seed=2) != sig


PROBE = """
import json, sys
from pipeline.ingest.duplicates import signature
print(json.dumps([signature(text).hex() for text in json.load(sys.stdin)]))
"""


def test_signature_is_the_same_in_another_process() -> None:
    texts = [FIRE, RESERVES, "Storm hits coast", ""]
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        # Another string-hash seed: shingle sets iterate in another order.
        env={**os.environ, "PYTHONHASHSEED": "2024"},
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [signature(text).hex() for text in texts]


def headline(text: str) -> str:
    return text.split("\n", 1)[0]


def index_of(*texts: str, threshold: float = DEFAULT_THRESHOLD) -> DuplicateIndex:
    """The texts indexed as ingest does, each with its headline (the first line)."""
    index = DuplicateIndex(threshold=threshold)
    for key, text in enumerate(texts, start=1):
        index.add(key, signature(text), headline(text))
    return index


def find(index: DuplicateIndex, text: str) -> int | None:
    return index.find(signature(text), headline(text))


@pytest.mark.parametrize(("original", "copy"), COPIES, ids=COPY_IDS)
def test_a_republished_copy_is_found(original: str, copy: str) -> None:
    assert find(index_of(original), copy) == 1


@pytest.mark.parametrize(("first", "second"), INDEPENDENT, ids=INDEPENDENT_IDS)
def test_independent_articles_on_one_event_are_not_copies(first: str, second: str) -> None:
    assert similarity(signature(first), signature(second)) < 0.2
    assert find(index_of(first), second) is None


@pytest.mark.parametrize(("first", "second"), HEADLINES_ONLY, ids=HEADLINES_ONLY_IDS)
def test_different_headlines_alone_are_not_copies(first: str, second: str) -> None:
    assert find(index_of(first), second) is None


def test_an_identical_headline_alone_is_a_copy() -> None:
    index = index_of("Riverton factory fire kills 12, dozens injured\n")
    assert find(index, "RIVERTON FACTORY FIRE KILLS 12 — DOZENS INJURED\n") == 1


def test_a_shared_paywall_teaser_under_other_headlines_is_no_copy() -> None:
    """gva story 128: three incidents, one site's paywall text as their summaries. The texts
    are near copies; the headlines are not, so none is a reprint of another."""
    first, second, third = TEASERS
    assert similarity(signature(first), signature(second)) >= DEFAULT_THRESHOLD
    index = index_of(first)
    assert find(index, second) is None
    index.add(2, signature(second), headline(second))
    assert find(index, third) is None
    # Without the headlines (as before), the text alone made them copies.
    assert index.find(signature(third)) == 1
    # The site's own copy of one of them, its name after the headline, still is one.
    assert find(index, headline(second) + " - Eastside Gazette\n" + PAYWALL) == 2


def test_a_copy_under_a_headline_rewritten_from_scratch_is_missed() -> None:
    """The price of the headline check: a wire story re-headlined from scratch is taken
    for an original (the milder mistake: it still joins its story by its text)."""
    rewritten = (
        "Bell confirms identity of Resolute wreck found at 60 metres\n" + WRECK.split("\n")[1]
    )
    assert similarity(signature(WRECK), signature(rewritten)) >= DEFAULT_THRESHOLD
    assert find(index_of(WRECK), rewritten) is None


@pytest.mark.parametrize(
    ("first", "second", "agree"),
    [
        ("Riverton factory fire kills 12", "RIVERTON FACTORY FIRE KILLS 12!", True),
        ("Storm Hilda cuts power", "Storm Hilda cuts power to 200,000 homes - GridWest News", True),
        ("Man shot outside store", "Teenager wounded in drive-by shooting", False),
        ("Man shot outside Eastside store", "Woman shot in Eastside apartment", False),
        ("Man shot in Richmond", "Man shot in Petersburg", False),
        ("Storm Hilda cuts power to 200,000 homes", "Storm Hilda cuts power to 300,000", True),
        ("", "Anything at all", True),
    ],
    ids=[
        "case",
        "outlet-suffix",
        "other-incident",
        "shared-place",
        "other-place",
        "one-number-changed",
        "no-headline",
    ],
)
def test_headlines_agree(first: str, second: str, agree: bool) -> None:
    assert headlines_agree(headline_words(first), headline_words(second)) is agree


def test_the_threshold_is_the_estimated_jaccard_similarity() -> None:
    original, copy = COPIES[COPY_IDS.index("extra-sentence")]
    estimate = similarity(signature(original), signature(copy))
    assert DEFAULT_THRESHOLD <= estimate < 0.95
    assert find(index_of(original), copy) == 1
    above = min(1.0, estimate + 0.05)
    assert find(index_of(original, threshold=above), copy) is None


def test_find_returns_the_smallest_matching_key() -> None:
    original, copy = COPIES[0]
    index = DuplicateIndex()
    for key, text in [(7, copy), (3, original), (9, original), (1, RATES)]:
        index.add(key, signature(text))
    assert index.find(signature(original)) == 3


def test_adding_a_key_again_replaces_its_signature() -> None:
    index = DuplicateIndex()
    index.add(1, signature(FIRE))
    index.add(1, signature(RATES))
    assert len(index) == 1
    assert index.find(signature(FIRE)) is None
    assert index.find(signature(RATES)) == 1


def test_a_transaction_that_raises_forgets_what_it_added() -> None:
    index = DuplicateIndex()
    index.add(1, signature(FIRE), "Riverton factory fire kills 12")

    def store_then_fail() -> None:
        with index.transaction():
            index.add(2, signature(RATES))
            index.add(1, signature(STORM))  # replaced, then given back
            index.add(3, signature(""))  # an empty text: nothing to forget
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        store_then_fail()
    assert len(index) == 1
    assert index.find(signature(RATES)) is None
    assert index.find(signature(STORM)) is None
    assert index.find(signature(FIRE), "Riverton factory fire kills 12") == 1
    assert index.find(signature(FIRE), "Central bank raises rates") is None  # headline kept too


def test_a_transaction_that_ends_keeps_what_it_added() -> None:
    index = DuplicateIndex()
    with index.transaction():
        index.add(2, signature(RATES))
    with pytest.raises(RuntimeError, match="rolled back"), index.transaction():
        raise RuntimeError("rolled back")  # a later rollback forgets nothing of the earlier
    assert index.find(signature(RATES)) == 2


def test_transactions_do_not_nest() -> None:
    index = DuplicateIndex()
    with (
        pytest.raises(RuntimeError, match="do not nest"),
        index.transaction(),
        index.transaction(),
    ):
        pass


@pytest.mark.parametrize(
    "text", ["", "   ", "<p>&nbsp;</p>", " — !!! "], ids=["empty", "blank", "html", "punctuation"]
)
def test_an_empty_text_matches_nothing(text: str) -> None:
    index = DuplicateIndex()
    index.add(1, signature(""))
    assert len(index) == 0
    assert index.find(signature(text)) is None


@pytest.mark.parametrize(
    ("sig", "message"),
    [
        (b"", "signature of 0 bytes in an index of num_perm=128"),
        (signature(FIRE, num_perm=64), "signature of 256 bytes in an index of num_perm=128"),
    ],
    ids=["empty-bytes", "other-num-perm"],
)
def test_a_signature_of_the_wrong_size_is_refused(sig: bytes, message: str) -> None:
    index = DuplicateIndex()
    with pytest.raises(ValueError, match=message):
        index.add(1, sig)
    with pytest.raises(ValueError, match=message):
        index.find(sig)


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.5], ids=["zero", "negative", "above-one"])
def test_a_threshold_outside_zero_to_one_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="duplicate threshold must be in"):
        DuplicateIndex(threshold=threshold)
