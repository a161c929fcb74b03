"""Which articles wait for their page."""

from __future__ import annotations

import pytest

from pipeline.extract.policy import ExtractState, initial_state, wants_page

TEASER = "Police raid a flat in Saint-Denis."
BODY = "Police raided a flat in Saint-Denis before dawn. " * 40


@pytest.mark.parametrize(
    ("full_text", "url", "text", "wanted"),
    [
        ("auto", "https://a.example/1", TEASER, True),
        ("auto", "https://a.example/1", BODY, False),
        ("auto", "https://a.example/1", "  " + TEASER + " " * 2000, True),
        ("always", "https://a.example/1", BODY, True),
        ("never", "https://a.example/1", TEASER, False),
        ("auto", None, TEASER, False),
        ("always", "/srv/feeds/local.xml", TEASER, False),
        ("auto", "HTTP://A.EXAMPLE/1", TEASER, True),
    ],
    ids=[
        "teaser",
        "whole-body",
        "blank-padded-teaser",
        "always",
        "never",
        "no-link",
        "local-path",
        "upper-case-scheme",
    ],
)
def test_a_page_is_wanted_for_a_teaser_with_a_web_link(
    full_text: str, url: str | None, text: str, wanted: bool
) -> None:
    assert wants_page(full_text, url, text, teaser_max_chars=1000) is wanted


def test_the_initial_state_is_pending_when_wanted_and_none_when_pages_are_off() -> None:
    assert initial_state("auto", "https://a.example/1", TEASER, 1000) == ExtractState.PENDING
    assert initial_state("auto", "https://a.example/1", BODY, 1000) is None
    assert initial_state("always", "https://a.example/1", BODY, None) is None
