# Texts in other scripts and typographic look-alikes are what these tests are about.
# ruff: noqa: RUF001
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.ingest.language import NEWS_LANGUAGES, detect_language, normalise_language

ROOT = Path(__file__).resolve().parents[2]

# Made-up headlines, 3 to 15 words, as news feeds write them.
HEADLINES: dict[str, list[str]] = {
    "en": [
        "Central bank raises interest rates for the third time this year",
        "Floods force thousands to leave their homes in northern England",
        "Prime minister faces pressure over delayed housing plan",
        "Liverpool beat Real Madrid to reach Champions League final",
        "Storm batters east coast",
    ],
    "fr": [
        "La banque centrale relève ses taux pour la troisième fois cette année",
        "Grève des cheminots : le trafic fortement perturbé lundi",
        "Emmanuel Macron reçoit Olaf Scholz à l'Élysée",
        "Le PSG s'impose face à Marseille au Parc des Princes",
        "La police arrête un suspect",
    ],
    "de": [
        "Die Zentralbank erhöht den Leitzins zum dritten Mal in diesem Jahr",
        "Hochwasser zwingt Tausende Menschen, ihre Häuser zu verlassen",
        "Streik bei der Bahn: Pendler müssen mit Ausfällen rechnen",
        "Bayern München verliert überraschend gegen Union Berlin",
        "Regierung kündigt Sparpaket an",
    ],
    "es": [
        "El banco central sube los tipos de interés por tercera vez este año",
        "El Gobierno aprueba la reforma de las pensiones",
        "Un incendio forestal arrasa miles de hectáreas en Valencia",
        "El Real Madrid vence al Barcelona en el Bernabéu",
        "La policía detiene al sospechoso",
    ],
    "it": [
        "La banca centrale alza i tassi di interesse per la terza volta quest'anno",
        "Sciopero dei treni, disagi per i pendolari in tutta Italia",
        "Meloni incontra Macron a Parigi per parlare dell'Ucraina",
        "La Juventus batte il Milan e torna in testa alla classifica",
        "Tempesta sulla costa adriatica",
    ],
    "pt": [
        "Banco central eleva os juros pela terceira vez este ano",
        "Governo aprova a reforma da previdência no Congresso",
        "Lula se reúne com Macron em Paris para discutir a Ucrânia",
        "Benfica vence o Porto e assume a liderança do campeonato",
        "Polícia prende suspeito do crime",
    ],
    "nl": [
        "Centrale bank verhoogt de rente voor de derde keer dit jaar",
        "Kabinet presenteert nieuw plan voor betaalbare woningen",
        "Treinstaking legt het spoorverkeer in het hele land plat",
        "Ajax verliest opnieuw en zakt naar de middenmoot",
        "Politie pakt verdachte op",
    ],
    "ru": [
        "Центральный банк повысил ключевую ставку в третий раз за год",
        "Наводнение вынудило тысячи людей покинуть свои дома",
        "Путин провёл переговоры с Си Цзиньпином в Пекине",
        "«Спартак» обыграл ЦСКА в московском дерби",
        "Полиция задержала подозреваемого",
    ],
    "ar": [
        "البنك المركزي يرفع أسعار الفائدة للمرة الثالثة هذا العام",
        "الفيضانات تجبر الآلاف على مغادرة منازلهم",
        "ماكرون يلتقي بن سلمان في الرياض لبحث الأزمة في غزة",
        "الأهلي يفوز على الزمالك ويتصدر الدوري المصري",
        "عاصفة تضرب الساحل",
    ],
    "zh": [
        "央行年内第三次上调利率",
        "洪水迫使数千人离开家园",
        "习近平会见法国总统马克龙讨论乌克兰局势",
        "上海股市周一收涨，科技股领涨",
        "股市大跌",
    ],
    "ja": [
        "日銀、今年3度目の利上げを決定",
        "ギリシャ沖で古代の沈没船を発見、研究チームが発表",
        "岸田首相、マクロン大統領と首脳会談",
        "大谷翔平が今季40号ホームラン、ドジャースが勝利",
        "株価が急落",
    ],
    # Beyond the eleven: neighbours of the languages above that a detector confuses them with.
    "uk": ["Центробанк утретє цього року підвищив облікову ставку"],
    "ca": ["Les inundacions obliguen milers de persones a deixar casa seva"],
    "ko": ["중앙은행, 올해 세 번째 금리 인상"],
    "sv": ["Riksbanken höjer räntan för tredje gången i år"],
    "id": ["Banjir memaksa ribuan warga meninggalkan rumah mereka"],
}
HEADLINE_CASES = [(lang, text) for lang, texts in HEADLINES.items() for text in texts]
HEADLINE_IDS = [
    f"{lang}-{n}" for lang, texts in HEADLINES.items() for n in range(1, len(texts) + 1)
]


@pytest.mark.parametrize(("expected", "text"), HEADLINE_CASES, ids=HEADLINE_IDS)
def test_detects_the_language_of_a_headline(expected: str, text: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        (
            "en",
            "Veltra recalls 40,000 SUVs over brake fault\nVeltra Motors is recalling about "
            "40,000 Terra SUVs because a brake hose can wear through, the company said.",
        ),
        (
            "de",
            "Veltra ruft 40.000 SUVs zurück\nWegen eines defekten Bremsschlauchs ruft Veltra "
            "Motors rund 40.000 Geländewagen in die Werkstätten, teilte der Hersteller mit.",
        ),
        (
            "ja",
            "ベルトラ、SUV4万台をリコール\nベルトラ・モーターズは火曜日、ブレーキホースに"
            "不具合があるとして、SUV約4万台のリコールを発表した。",
        ),
        (
            "fr",
            "SÉISME : UNE SECOUSSE RESSENTIE DANS TOUT LE SUD-OUEST\nAucun blessé n'a été "
            "signalé, selon la préfecture.",
        ),
    ],
    ids=["en", "de", "ja", "shouting-headline"],
)
def test_detects_the_language_of_a_headline_and_lead(expected: str, text: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "Paris",
        "Breaking",
        "Update: 3-1",
        "iPhone 16",
        "COVID-19",
        "12:30 – 14:00",
        "Markets slump",
        "🔥🔥🔥 !!!",
        # The model is sure of these (de 0.94, pt 0.77), but names travel across languages.
        "Deutsche Bank",
        "São Paulo",
    ],
    ids=[
        "empty",
        "whitespace",
        "a-name",
        "one-word",
        "score",
        "product",
        "code-word",
        "numbers",
        "two-words",
        "emoji",
        "bank-name",
        "city-name",
    ],
)
def test_too_short_is_none(text: str) -> None:
    assert detect_language(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Nvidia supera Apple a Wall Street",
        "Apple Google Microsoft Nvidia Tesla",
        "Barack Obama meets Angela Merkel",
        "FC Bayern vs. PSG: Live",
    ],
    ids=["names-in-italian", "only-names", "names-in-english", "sports-fixture"],
)
def test_mostly_names_is_none(text: str) -> None:
    # Proper nouns are spelled alike in every language: better no answer than a guess.
    assert detect_language(text) is None


PROBE = """
import json, sys
from pipeline.ingest.language import detect_language
imported_model = "py3langid" in sys.modules

def no_network(event, args):
    if event.startswith("socket."):
        raise RuntimeError(f"language detection used the network: {event} {args}")

sys.addaudithook(no_network)
print(json.dumps({
    "imported_model": imported_model,
    "languages": [detect_language(text) for text in json.load(sys.stdin)],
}))
"""


def test_detection_is_offline_lazy_and_the_same_in_another_process() -> None:
    texts = [text for _, text in HEADLINE_CASES]
    env = {**os.environ, "PYTHONHASHSEED": "2024", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    probe = json.loads(run.stdout)
    assert probe["imported_model"] is False
    assert probe["languages"] == [detect_language(text) for text in texts]


def test_detected_languages_are_news_languages() -> None:
    detected = {detect_language(text) for _, text in HEADLINE_CASES}
    assert detected <= NEWS_LANGUAGES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("fr-FR ", "fr"),
        (" de ", "de"),
        ("zh-Hant-TW", "zh"),
        ("pt-BR", "pt"),
        ("iw", "he"),
        ("in-ID", "id"),
        ("nb-NO", "no"),
        ("", None),
        ("   ", None),
        (None, None),
        ("x-default", None),
        ("english", None),
        ("12", None),
    ],
    ids=[
        "plain",
        "region",
        "upper-underscore",
        "trailing-space",
        "padded",
        "script-and-region",
        "brazil",
        "old-hebrew",
        "old-indonesian",
        "bokmal-as-detected",
        "empty",
        "blank",
        "missing",
        "private-use",
        "a-name",
        "digits",
    ],
)
def test_normalise_language(raw: str | None, expected: str | None) -> None:
    assert normalise_language(raw) == expected
