"""Where article pages come from: the one seam between the extract stage and the network.

``WebPages`` fetches them politely (``fetch.py``: robots.txt, per-host limits, vetted
redirects, size and time caps); ``StoredPages`` serves pages a replay holds already (a
labelled corpus's ``html``), so that ``storyline evaluate`` runs the same extraction code
with no network. Tests serve their own pages through either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

from pipeline.extract.fetch import Page, PageError, RobotsRules, fetch_page
from pipeline.http import HostLimits
from pipeline.settings import Settings


class PageSource(Protocol):
    """Anything that gives an article's page by its URL, or raises ``PageError``."""

    def page(self, url: str) -> Page: ...


class WebPages:
    """Pages fetched from the web, at most ``page_per_host`` at a time from one host."""

    def __init__(self, client: httpx.Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._robots = RobotsRules(client, settings)
        self._hosts = HostLimits(settings.page_per_host)

    def page(self, url: str) -> Page:
        with self._hosts.slot(url):
            return fetch_page(self._client, url, self._settings, self._robots)


class StoredPages:
    """Pages held in memory by URL (a replayed corpus's), served as a site would."""

    def __init__(self, pages: Mapping[str, bytes]) -> None:
        self._pages = pages

    def page(self, url: str) -> Page:
        body = self._pages.get(url)
        if body is None:
            raise PageError("no page", permanent=True)
        return Page(body=body, content_type="text/html; charset=utf-8", final_url=url, status=200)
