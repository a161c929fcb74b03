import pytest

from pipeline.text import article_text


@pytest.mark.parametrize(
    ("title", "summary", "chars", "expected"),
    [
        (
            "Quake hits Chile",
            "Buildings fell. Many hurt.",
            600,
            "Quake hits Chile. Buildings fell. Many hurt.",
        ),
        ("Quake hits Chile.", "Buildings fell.", 600, "Quake hits Chile. Buildings fell."),
        ("Quake hits Chile", "Buildings fell. Many hurt.", 9, "Quake hits Chile. Buildings"),
        ("Quake hits Chile", "", 600, "Quake hits Chile"),
    ],
    ids=["title-and-lead", "title-ends-sentence", "lead-cut", "no-body"],
)
def test_article_text(title: str, summary: str, chars: int, expected: str) -> None:
    assert article_text(title, summary, chars) == expected
