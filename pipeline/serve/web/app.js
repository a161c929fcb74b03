// Storyline dashboard: the stories (searched and filtered), the breaking ones, one story's
// chart, outlets, paged articles (each with its first lines), lineage and related stories,
// and the articles themselves (those in no story, a search of their text).
// Plain DOM, no dependencies. Every piece of data goes in through textContent or an
// attribute, never innerHTML, so a headline cannot inject markup.
//
// The view lives in the URL's hash, so it can be shared, and reloads and back/forward
// restore it: #/?q=raqqa&status=active&offset=50 (the list, its second page),
// #/trending?hours=6&more=1, #/story/7?offset=10 (a story, its second page of articles),
// #/articles?unclustered=1&q=lisbon (the articles in no story that mention Lisbon; the tab
// is Latest: every article, newest first; #/latest is the same view).
// Every time is shown in UTC, and says so.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  // ?refresh=SECONDS polls faster (the browser tests use 1); ?limit=N stories per page of
  // the list and articles per page of Articles (and at most N before Breaking's "more");
  // ?articles=N articles per page of a story.
  const REFRESH_MS = Math.max(0.2, Number(params.get("refresh")) || 15) * 1000;
  const LIMIT = Math.min(200, Math.max(1, Math.floor(Number(params.get("limit")) || 50)));
  const ARTICLES = Math.min(500, Math.max(1, Math.floor(Number(params.get("articles")) || 10)));
  // Breaking shows the fastest growing first and all the API gives (its cap) after "more".
  const TRENDING = Math.min(20, LIMIT);
  const TRENDING_MAX = 50;
  const MAX_OFFSET = 2 ** 31 - 1; // the API's
  const RELATED = 8;
  const HOUR_MS = 3600 * 1000;
  const DAY_MS = 24 * HOUR_MS;
  // The chart's bins, finest first: the finest that leaves every bar MIN_SLOT_PX or more.
  const CHART_UNITS = [
    { ms: HOUR_MS, name: "hour" },
    { ms: DAY_MS, name: "day" },
    { ms: 7 * DAY_MS, name: "week" },
    { ms: 28 * DAY_MS, name: "4 weeks" },
    { ms: 91 * DAY_MS, name: "13 weeks" },
    { ms: 364 * DAY_MS, name: "52 weeks" },
  ];
  const MIN_SLOT_PX = 4;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUSES = ["active", "dormant", "merged", "dissolved"];
  const DEFAULT_STATUSES = ["active", "dormant"];
  const ORDERS = ["rank", "recent", "size"];
  const DEFAULT_HOURS = 6;
  const DAY = /^\d{4}-\d{2}-\d{2}$/;
  const EXCERPT = 200; // characters of an article's text shown under its title

  const $ = (id) => document.getElementById(id);
  const state = {
    view: null, // "list", "trending", "articles" or "story"
    route: 0, // bumped on every navigation: an answer for an older route is dropped
    viewKey: null, // what the current view last drew, to draw only on change
    storyId: null,
    storyKey: null,
    updatedAt: null, // when the newest cluster run finished (the header's "updated")
    clock: null, // the pipeline's clock: the newest run's "now", which "x before" counts from
    listHash: "#/", // the list as last shown (page included), for the story page's way back
    timeline: null, // the story's hours as last charted, to draw again at a new width
    outlets: new Set(), // outlet names offered by the outlet filter (/api/outlets)
    articlesHash: "#/articles", // Articles as last shown, to tell its next page from a new search
    // The hash a filter form itself last asked for: the route that answers it leaves the form
    // as it stands, since the editor may already be typing in the next box.
    formHash: null,
    renders: 0,
  };
  // For tests and the curious: how often the list was drawn, and when it last changed.
  window.storyline = state;

  // --- DOM helpers -----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(name, String(value));
      }
    }
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // --- formatting ------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // Times in UTC, the pipeline's own zone, whatever the reader's: a newsroom across zones
  // reads the same "14:30 UTC", and the date boxes' days are UTC days.
  function hhmm(date) {
    return `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
  }

  function dayMonth(date) {
    return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
  }

  function dateTime(iso) {
    const date = new Date(iso);
    return `${dayMonth(date)} ${date.getUTCFullYear()} ${hhmm(date)} UTC`;
  }

  function timeEl(iso, text, attrs) {
    return el("time", { datetime: iso, ...attrs }, text || dateTime(iso));
  }

  // How long before the pipeline's clock: a replayed or paused pipeline reads as of its
  // last run, so the browser's own clock would call every story "years ago".
  function relative(iso) {
    if (!state.clock) return null;
    const diff = new Date(state.clock).getTime() - new Date(iso).getTime();
    const abs = Math.abs(diff);
    if (abs < 60 * 1000) return "at the latest run";
    let amount;
    if (abs < HOUR_MS) amount = `${Math.round(abs / 60000)} min`;
    else if (abs < 48 * HOUR_MS) amount = `${Math.round(abs / HOUR_MS)} h`;
    else if (abs < 60 * DAY_MS) amount = plural(Math.round(abs / DAY_MS), "day");
    else if (abs < 730 * DAY_MS) amount = plural(Math.round(abs / (30.4375 * DAY_MS)), "month");
    else amount = plural(Math.round(abs / (365.25 * DAY_MS)), "year");
    return `${amount} ${diff > 0 ? "before" : "after"} the latest run`;
  }

  // A moment with its day, and how long before the latest run it was.
  function when(iso) {
    const rel = relative(iso);
    return el("span", { class: "when" }, timeEl(iso),
      rel ? el("span", { class: "rel" }, ` (${rel})`) : null);
  }

  function plural(n, word, many) {
    return `${n} ${n === 1 ? word : many || `${word}s`}`;
  }

  // Up to two decimals, no trailing zeros: 3.64, 2.5, 3.
  function decimal(x) {
    return String(Number(Number(x).toFixed(2)));
  }

  // An article's first lines: the start of its text, its white space run together, cut
  // at a word near EXCERPT characters (counted as the reader sees them, not in UTF-16).
  function excerpt(text) {
    const chars = Array.from((text || "").replace(/\s+/g, " ").trim());
    if (chars.length <= EXCERPT) return chars.join("");
    const cut = chars.slice(0, EXCERPT).join("");
    const space = cut.lastIndexOf(" ");
    const words = space > EXCERPT * 0.6 ? cut.slice(0, space) : cut;
    return `${words.replace(/[\s,;:.\u2013\u2014-]+$/, "")}\u2026`;
  }

  // Only web links become hrefs: a feed could carry a javascript: URL.
  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_err) {
      return null;
    }
  }

  function storyHref(id, offset) {
    const base = `#/story/${encodeURIComponent(id)}`;
    return offset ? `${base}?offset=${offset}` : base;
  }

  function storyLink(ref) {
    return el("a", { href: storyHref(ref.id), "data-story-id": ref.id }, ref.title);
  }

  // --- data ------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function getJson(path) {
    // "no-cache" revalidates with the answer's ETag: an unchanged poll is a 304, no body.
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-cache" });
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && (body.message || body.detail);
      throw new HttpError(response.status, typeof detail === "string" ? detail : response.statusText);
    }
    return body;
  }

  // The header: when the newest run finished, and the moment its news runs up to.
  async function refreshClock(trending) {
    const [health, latest] = await Promise.all([
      getJson("/api/health"),
      trending ? Promise.resolve(trending) : getJson(`/api/trending?hours=${DEFAULT_HOURS}&limit=1`),
    ]);
    state.clock = latest.at;
    showUpdated(health.last_run_at, latest.at);
  }

  function setStatus(text, problem) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("problem", Boolean(problem));
    status.dataset.shown = problem ? "0" : "1";
  }

  function showUpdated(updatedAt, clock) {
    const status = $("status");
    const key = JSON.stringify([updatedAt, clock]);
    // Rewrite the live region only when it changes, so screen readers are not told every poll.
    if (key === status.dataset.key && status.dataset.shown === "1") return;
    state.updatedAt = updatedAt;
    status.dataset.key = key;
    status.dataset.shown = "1";
    if (!updatedAt) {
      setStatus("no clustering run yet");
      return;
    }
    clear(status);
    status.classList.remove("problem");
    append(status, ["updated ", timeEl(updatedAt, null, { class: "updated" })]);
    // A replayed or paused pipeline's news ends long before the run finished: say so.
    if (clock && Math.abs(new Date(updatedAt) - new Date(clock)) > 60 * 1000) {
      append(status, [" · news up to ", timeEl(clock, null, { class: "clock" })]);
    }
  }

  // --- routes ----------------------------------------------------------------------------

  function parseHash(full = window.location.hash) {
    const hash = full.replace(/^#/, "") || "/";
    const at = hash.indexOf("?");
    const path = at < 0 ? hash : hash.slice(0, at);
    const query = new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
    const story = /^\/story\/(\d+)$/.exec(path);
    if (story) return { view: "story", id: Number(story[1]), query };
    if (path === "/trending") return { view: "trending", query };
    if (path === "/articles" || path === "/latest") return { view: "articles", query };
    return { view: "list", query };
  }

  // The list's filters as the hash holds them; anything malformed is left out.
  function listFilters(query) {
    const statuses = STATUSES.filter((s) => query.getAll("status").includes(s));
    const order = query.get("order");
    const day = (name) => (isDay(query.get(name) || "") ? query.get(name) : "");
    return {
      q: (query.get("q") || "").trim(),
      outlet: (query.get("outlet") || "").trim(),
      statuses: statuses.length ? statuses : DEFAULT_STATUSES.slice(),
      since: day("since"),
      until: day("until"),
      order: ORDERS.includes(order) ? order : "rank",
      entity: entityOf(query),
    };
  }

  // The entity the list is narrowed to (a chip clicked), or null; only a plain id counts.
  function entityOf(query) {
    const value = query.get("entity") || "";
    return /^[1-9]\d{0,9}$/.test(value) && Number(value) <= 2147483647 ? Number(value) : null;
  }

  function isDefaultStatuses(statuses) {
    return statuses.length === DEFAULT_STATUSES.length && DEFAULT_STATUSES.every((s) => statuses.includes(s));
  }

  // The hash of a list view: defaults are left out, so the plain list is "#/". A page
  // other than the first goes last, and any change of filter leaves it out: back to page 1.
  function listHash(filters, offset) {
    const query = new URLSearchParams();
    if (filters.q) query.set("q", filters.q);
    if (filters.outlet) query.set("outlet", filters.outlet);
    if (!isDefaultStatuses(filters.statuses)) filters.statuses.forEach((s) => query.append("status", s));
    if (filters.since) query.set("since", filters.since);
    if (filters.until) query.set("until", filters.until);
    if (filters.order !== "rank") query.set("order", filters.order);
    if (filters.entity) query.set("entity", String(filters.entity));
    if (offset) query.set("offset", String(offset));
    const text = query.toString();
    return text ? `#/?${text}` : "#/";
  }

  // A real day written yyyy-mm-dd (not 2015-02-30).
  function isDay(text) {
    if (!DAY.test(text)) return false;
    const [y, m, d] = text.split("-").map(Number);
    const date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }

  // A day of the date boxes, a UTC day (as every time shown).
  function dayStart(day) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toISOString();
  }

  function dayEnd(day) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + 1) - 1).toISOString();
  }

  function listApiPath(filters, offset) {
    const query = new URLSearchParams({ order: filters.order, limit: String(LIMIT), offset: String(offset) });
    if (filters.q) query.set("q", filters.q);
    if (filters.outlet) query.set("outlet", filters.outlet);
    filters.statuses.forEach((s) => query.append("status", s));
    if (filters.since) query.set("since", dayStart(filters.since));
    if (filters.until) query.set("until", dayEnd(filters.until));
    if (filters.entity) query.set("entity", String(filters.entity));
    return `/api/stories?${query}`;
  }

  function hoursOf(query) {
    const hours = Math.floor(Number(query.get("hours")));
    return hours >= 1 && hours <= 48 ? hours : DEFAULT_HOURS;
  }

  function trendingHash(hours, more) {
    const query = new URLSearchParams();
    if (hours !== DEFAULT_HOURS) query.set("hours", String(hours));
    if (more) query.set("more", "1");
    const text = query.toString();
    return text ? `#/trending?${text}` : "#/trending";
  }

  // Articles: a search of their titles and text, and whether only those in no story.
  function articleFilters(query) {
    const day = (name) => (isDay(query.get(name) || "") ? query.get(name) : "");
    return {
      q: (query.get("q") || "").trim(),
      outlet: (query.get("outlet") || "").trim(),
      since: day("since"),
      until: day("until"),
      unclustered: query.get("unclustered") === "1",
    };
  }

  function articlesHash(filters, offset) {
    const query = new URLSearchParams();
    if (filters.unclustered) query.set("unclustered", "1");
    if (filters.q) query.set("q", filters.q);
    if (filters.outlet) query.set("outlet", filters.outlet);
    if (filters.since) query.set("since", filters.since);
    if (filters.until) query.set("until", filters.until);
    if (offset) query.set("offset", String(offset));
    const text = query.toString();
    return text ? `#/articles?${text}` : "#/articles";
  }

  function articlesApiPath(filters, offset) {
    const query = new URLSearchParams({ limit: String(LIMIT), offset: String(offset) });
    if (filters.unclustered) query.set("unclustered", "true");
    if (filters.q) query.set("q", filters.q);
    if (filters.outlet) query.set("outlet", filters.outlet);
    if (filters.since) query.set("since", dayStart(filters.since));
    if (filters.until) query.set("until", dayEnd(filters.until));
    return `/api/articles?${query}`;
  }

  // Where a page starts (?offset=N, of a list or of a story's articles); 0 if malformed.
  function offsetOf(query) {
    return Math.min(MAX_OFFSET, Math.max(0, Math.floor(Number(query.get("offset"))) || 0));
  }

  // --- pages -----------------------------------------------------------------------------

  // The one pager of the page, for the list and a story's articles alike. `page` is an
  // API page ({offset, limit, total, items}); "1–50 of 312 stories", or null past the end.
  function pageRange(page, one, many) {
    if (page.items.length === 0) return null;
    return `${page.offset + 1}–${page.offset + page.items.length} of ${plural(page.total, one, many)}`;
  }

  // The links to the pages either side: `href(offset)` makes one's hash, `prev` and `next`
  // are [class, text]. Back from past the end (a shared link, a list grown shorter) goes
  // to the last page there is, not to an empty one before it.
  function renderPager(nav, page, href, prev, next) {
    clear(nav);
    const lastPage = Math.max(0, Math.ceil(page.total / page.limit) - 1) * page.limit;
    if (page.offset > 0 && page.total > 0) {
      const offset = Math.min(lastPage, Math.max(0, page.offset - page.limit));
      nav.append(el("a", { class: prev[0], rel: "prev", href: href(offset) }, prev[1]));
    }
    if (page.offset + page.items.length < page.total) {
      nav.append(el("a", { class: next[0], rel: "next", href: href(page.offset + page.limit) }, next[1]));
    }
  }

  // --- the list --------------------------------------------------------------------------

  function fillFilters(filters) {
    const form = $("filters");
    form.elements.q.value = filters.q;
    form.elements.outlet.value = filters.outlet;
    form.elements.since.value = filters.since;
    form.elements.until.value = filters.until;
    form.elements.order.value = filters.order;
    for (const box of form.querySelectorAll('input[name="status"]')) {
      box.checked = filters.statuses.includes(box.value);
    }
    showFiltersSet(filters);
  }

  function showFiltersSet(filters) {
    const set = [filters.outlet, filters.since, filters.until, filters.order !== "rank",
      !isDefaultStatuses(filters.statuses)].filter(Boolean).length;
    $("more-filters-summary").textContent = set ? `Filters (${set} set)` : "Filters";
  }

  // A wide screen shows every filter (the details open, its summary hidden by the CSS); a
  // phone folds them behind "Filters", so the stories fill its first screen.
  const NARROW = window.matchMedia("(max-width: 34rem)");
  function foldFilters() {
    $("more-filters").open = !NARROW.matches;
  }

  function readFilters() {
    const form = $("filters");
    const checked = [...form.querySelectorAll('input[name="status"]:checked')].map((box) => box.value);
    return {
      q: form.elements.q.value.trim(),
      outlet: form.elements.outlet.value.trim(),
      statuses: checked.length ? checked : DEFAULT_STATUSES.slice(),
      since: isDay(form.elements.since.value) ? form.elements.since.value : "",
      until: isDay(form.elements.until.value) ? form.elements.until.value : "",
      order: form.elements.order.value,
      entity: listFilters(parseHash().query).entity,
    };
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    const hash = listHash(readFilters());
    if (hash !== (window.location.hash || "#/")) {
      state.formHash = hash;
      window.location.hash = hash;
    }
  }

  async function refreshList(route, filters, offset) {
    let page;
    let unclustered;
    try {
      [page, unclustered] = await Promise.all([
        getJson(listApiPath(filters, offset)),
        getJson("/api/articles?unclustered=true&limit=1"),
      ]);
    } catch (err) {
      if (err instanceof HttpError && err.status === 422) {
        if (route === state.route) renderRefused(err.message);
        return;
      }
      throw err;
    }
    if (route !== state.route) return;
    renderUnclustered(unclustered.total);
    await renderEntityFilter(route, filters);
    if (route !== state.route) return;
    const key = JSON.stringify([state.clock, page.total, page.offset, page.items, filters]);
    if (key !== state.viewKey) {
      state.viewKey = key;
      renderList(page, filters);
    }
  }

  // "12 articles in no story": the way to what clustering left out; hidden when none is.
  function renderUnclustered(total) {
    $("unclustered-link").textContent = `${plural(total, "article")} in no story`;
    $("unclustered-note").hidden = total === 0;
  }

  function renderRefused(message) {
    state.viewKey = null;
    clear($("stories-body"));
    clear($("stories-pager"));
    $("list-summary").textContent = `The server refused these filters: ${message}`;
  }

  function filtered(filters) {
    return Boolean(filters.q || filters.outlet || filters.since || filters.until || filters.entity ||
      !isDefaultStatuses(filters.statuses));
  }

  function renderList(page, filters) {
    state.renders += 1;
    const body = clear($("stories-body"));
    page.items.forEach((story, index) => {
      const keywords = el("ul", { class: "keywords", "aria-label": "Keywords" },
        story.keywords.map((word) => el("li", null, word)));
      const names = entityChips(story.entities, `People, places and organisations of “${story.title}”`);
      body.append(el("tr", { "data-story-id": story.id },
        el("td", { class: "num rank" }, page.offset + index + 1),
        el("th", { scope: "row", class: "title" },
          el("a", { href: storyHref(story.id) }, story.title),
          story.status === "active" ? null : el("span", { class: "badge" }, story.status),
          story.lead ? el("p", { class: "lead" }, story.lead.sentence) : null),
        el("td", { class: "kw" }, names, keywords),
        el("td", { class: "num articles", "data-label": "articles" }, story.articles,
          story.articles_last_24h
            ? el("span", { class: "recent", title: "in the last 24 hours" }, ` +${story.articles_last_24h}`,
              el("span", { class: "visually-hidden" }, " in the last 24 hours"))
            : null),
        el("td", { class: "num outlets", "data-label": "outlets" }, story.outlets),
        el("td", { class: "last", "data-label": "last update" }, when(story.last_seen))));
    });
    if (page.items.length === 0) {
      let empty = "No stories yet: run the pipeline (storyline run, or storyline demo).";
      if (page.total > 0) empty = "No stories on this page: go back to an earlier one.";
      else if (filtered(filters)) empty = "No story matches these filters.";
      body.append(el("tr", null, el("td", { colspan: 6, class: "empty" }, empty)));
    }
    // "6 stories." when one page holds them all, "1–50 of 312 stories." when not.
    const matching = filtered(filters) ? " matching the filters" : "";
    const all = plural(page.total, "story", "stories");
    const range = page.total === 0 || (page.offset === 0 && page.items.length === page.total)
      ? all
      : pageRange(page, "story", "stories");
    $("list-summary").textContent = range
      ? `${range}${matching}.`
      : `None here: ${all}${matching} in all.`;
    renderPager($("stories-pager"), page, (offset) => listHash(filters, offset),
      ["prev", "← Previous"], ["next", "Next →"]);
    $("stories-caption").textContent = {
      rank: "Stories ranked by articles in the last 24 hours, then outlets",
      recent: "Stories seen most recently first",
      size: "Stories with the most articles first",
    }[filters.order];
  }

  // --- people, places and organisations --------------------------------------------------

  const KIND_LABELS = { person: "person", place: "place", organisation: "organisation" };

  // A story's entities as chips, each a link to the stories that name it. The kind is
  // told three ways: a visible symbol, the chip's border (solid, dashed, double) and its
  // colour, and said in words to screen readers ("person: Salah Abdeslam").
  function entityChips(entities, label, id) {
    const list = el("ul", { class: "entities", "aria-label": label, id: id || null });
    for (const entity of entities || []) {
      const kind = KIND_LABELS[entity.kind] || "entity";
      list.append(el("li", null, el("a", {
        class: `chip chip-${entity.kind}`,
        href: listHash({ ...listFilters(new URLSearchParams()), entity: entity.id }),
        "data-entity-id": entity.id,
        "data-kind": entity.kind,
        title: `Stories naming ${entity.name} (${kind}, in ${plural(entity.articles, "article")})`,
      }, el("span", { class: "chip-kind", "aria-hidden": "true" }),
      el("span", { class: "visually-hidden" }, `${kind}: `), entity.name)));
    }
    return list;
  }

  // "Stories naming [person: Salah Abdeslam] · show all": the entity filter, with its way out.
  async function renderEntityFilter(route, filters) {
    const note = $("entity-filter");
    if (!filters.entity) {
      note.hidden = true;
      clear(note);
      return;
    }
    let entity = null;
    try {
      entity = await getJson(`/api/entities/${filters.entity}`);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 404)) throw err;
    }
    if (route !== state.route) return;
    const what = entity ? ["Stories naming ", entityChips([entity], "Filtered by")]
      : [`No person, place or organisation has the id ${filters.entity}`];
    append(clear(note), [...what, " · ",
      el("a", { href: listHash({ ...filters, entity: null }) }, "show all stories")]);
    note.hidden = false;
  }

  // --- breaking --------------------------------------------------------------------------

  // Breaking is a ranking that every run scores anew, so it grows by "more" rather than
  // turning pages (a page 2 would shift under the reader). The API has no total for it: one
  // story beyond the first TRENDING tells whether there are more to show.
  async function refreshTrending(route, hours, more) {
    const limit = more ? TRENDING_MAX : TRENDING + 1;
    const trending = await getJson(`/api/trending?hours=${hours}&limit=${limit}`);
    await refreshClock(trending);
    if (route !== state.route) return;
    const key = JSON.stringify([trending, more]);
    if (key !== state.viewKey) {
      state.viewKey = key;
      renderTrending(trending, more);
    }
  }

  function renderTrending(trending, more) {
    const list = clear($("trending-list"));
    const h = trending.hours;
    const items = more ? trending.items : trending.items.slice(0, TRENDING);
    const hidden = trending.items.length > items.length;
    for (const story of items) {
      const mark = story.mark === "new"
        ? el("span", { class: "badge mark new", title: `first seen in the last ${h} h` }, "new")
        : el("span", { class: "badge mark developing", title: "an older story gaining articles" }, "developing");
      list.append(el("li", { "data-story-id": story.id, "data-mark": story.mark },
        el("a", { class: "title", href: storyHref(story.id) }, story.title), mark,
        story.lead ? el("p", { class: "lead" }, story.lead.sentence) : null,
        story.entities && story.entities.length
          ? entityChips(story.entities, `People, places and organisations of ${story.title}`) : null,
        el("p", { class: "growth", title: "growth = (recent articles + 1) / (expected + 1)" },
          el("strong", { class: "factor" }, `×${decimal(story.growth)}`),
          el("span", { class: "why" },
            `: ${plural(story.recent_articles, "article")} in the last ${h} h`
            + ` vs ${decimal(story.earlier_rate)} expected`),
          el("span", { class: "detail" }, ` (${story.earlier_articles} in the 48 h before)`)),
        el("p", { class: "detail" },
          `${plural(story.articles, "article")} from ${plural(story.outlets, "outlet")} · last `,
          when(story.last_seen))));
    }
    // "The 20 stories": the top of a longer ranking; "3 stories": all there are.
    const capped = hidden || (more && items.length === TRENDING_MAX);
    const count = plural(items.length, "story", "stories");
    $("trending-summary").textContent = "";
    append($("trending-summary"), [
      items.length
        ? `${capped ? `The ${count}` : count} growing fastest against their own pace, in the ${h} h up to `
        : `No story is growing against its own pace in the ${h} h up to `,
      timeEl(trending.at),
      `: each has ${trending.min_articles} or more new articles, at a faster pace than in the 48 h before.`,
    ]);
    const pager = clear($("trending-more"));
    if (hidden) {
      pager.append(el("a", { class: "more", href: trendingHash(h, true) }, `More: up to ${TRENDING_MAX} →`));
    }
  }

  // --- one story -------------------------------------------------------------------------

  async function refreshStory(route, id, offset) {
    let story;
    let related;
    try {
      [story, related] = await Promise.all([
        getJson(`/api/stories/${encodeURIComponent(id)}?article_limit=${ARTICLES}&article_offset=${offset}`),
        getJson(`/api/stories/${encodeURIComponent(id)}/related?limit=${RELATED}`),
      ]);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) {
        if (route === state.route) renderMissing(id);
        return;
      }
      throw err;
    }
    // Merged into: the lineage names the other story by id only; its title makes the link.
    let mergedInto = null;
    if (story.merged_into_id !== null) {
      try {
        const target = await getJson(`/api/stories/${story.merged_into_id}?article_limit=1`);
        mergedInto = { id: target.id, title: target.title };
      } catch (_err) {
        mergedInto = { id: story.merged_into_id, title: `story ${story.merged_into_id}` };
      }
    }
    if (route !== state.route) return; // the reader moved on while we waited
    const key = JSON.stringify([state.clock, story, related, mergedInto]);
    if (key !== state.storyKey) {
      state.storyKey = key;
      renderStory(story, related.items, mergedInto);
    }
  }

  // One message, and none of a story's empty headings.
  function renderMissing(id) {
    state.storyKey = null;
    document.title = "Story not found · Storyline";
    $("story-title").textContent = `No story ${id}`;
    $("story-meta").textContent = "There is no such story: the link may be mistyped, or the story never existed.";
    $("story-body").hidden = true;
    for (const part of ["story-summary", "story-keywords", "story-outlets", "story-articles", "story-history",
      "story-related", "story-lineage", "articles-pager", "articles-count"]) {
      clear($(part));
    }
    $("story-notice").hidden = true;
    $("lineage-section").hidden = true;
    drawChart([]);
  }

  function renderStory(story, related, mergedInto) {
    document.title = `${story.title} · Storyline`;
    $("story-body").hidden = false;
    $("story-title").textContent = story.title;

    const meta = clear($("story-meta"));
    append(meta, [
      `${plural(story.articles, "article")} from ${plural(story.outlets, "outlet")}, first `,
      when(story.first_seen), ", last ", when(story.last_seen),
      ` · ${story.articles_last_24h} in the last 24 hours · ${story.status}`,
    ]);

    const notice = clear($("story-notice"));
    notice.hidden = mergedInto === null;
    if (mergedInto !== null) append(notice, ["Merged into ", storyLink(mergedInto), "."]);

    renderSummary(story.summary);
    append(clear($("story-keywords")), story.keywords.map((word) => el("li", null, word)));
    const named = $("story-entities");
    named.replaceWith(entityChips(story.entities, "People, places and organisations", "story-entities"));

    renderLineage(story, mergedInto);

    for (const source of story.sources) state.outlets.add(source.outlet);
    renderOutletNames();
    // "broke it": the earliest first report of the story's event (the API's arrival_rank 1),
    // not an older article of the outlet's that joined the story later.
    append(clear($("story-outlets")), story.sources.map((outlet) => el("li", null,
      el("a", { class: "outlet", href: listHash({ ...listFilters(new URLSearchParams()), outlet: outlet.outlet }),
        title: `Stories with articles from ${outlet.outlet}` }, outlet.outlet),
      outlet.arrival_rank === 1 ? el("span", { class: "badge first" }, "broke it") : null,
      el("span", { class: "detail" }, ` ${plural(outlet.articles, "article")}, first `,
        timeEl(outlet.first_report_at || outlet.first_article_at),
        outlet.first_report_at === null
          ? " (background, before the story broke)"
          : outlet.first_report_at !== outlet.first_article_at
            ? [" (background from ", timeEl(outlet.first_article_at), ")"]
            : null))));

    renderArticles(story);

    const relatedList = clear($("story-related"));
    append(relatedList, related.map((other) => el("li", { "data-story-id": other.id, "data-similarity": other.similarity },
      storyLink(other),
      other.status === "active" ? null : el("span", { class: "badge" }, other.status),
      el("span", { class: "detail" },
        ` similarity ${other.similarity.toFixed(2)} · ${plural(other.articles, "article")}, last `,
        when(other.last_seen)))));
    if (related.length === 0) {
      relatedList.append(el("li", { class: "empty" }, "No related stories."));
    }

    append(clear($("story-history")), story.history.map((event) => el("li", null,
      when(event.at), ` ${event.relation === "split into" ? "split into" : event.kind}`,
      event.other_story_id !== null
        ? [" (", el("a", { href: storyHref(event.other_story_id) }, `story ${event.other_story_id}`), ")"]
        : null)));

    drawChart(story.timeline);
  }

  // The story's summary: each sentence with its outlet, linked to the article it is from.
  function renderSummary(sentences) {
    append(clear($("story-summary")), sentences.map((part) => {
      const href = part.url ? safeUrl(part.url) : null;
      const outlet = href
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer", title: "The article this sentence is from" }, part.outlet)
        : el("span", null, part.outlet);
      return el("li", { "data-article-id": part.article_id },
        el("q", null, part.sentence), el("span", { class: "detail" }, " · ", outlet));
    }));
  }

  function renderLineage(story, mergedInto) {
    const lineage = clear($("story-lineage"));
    const parts = [
      ["merged-into", "Merged into", mergedInto ? [mergedInto] : []],
      ["merged-from", "Merged from", story.merged_from],
      ["split-from", "Split from", story.split_from],
      ["split-into", "Split into", story.split_into],
    ];
    for (const [name, label, refs] of parts) {
      if (refs.length === 0) continue;
      lineage.append(el("dt", null, label),
        el("dd", { class: name }, el("ul", null, refs.map((ref) => el("li", null, storyLink(ref))))));
    }
    $("lineage-section").hidden = !lineage.firstChild;
  }

  function renderArticles(story) {
    const page = story.article_page;
    $("articles-count").textContent = pageRange(page, "article")
      || `None here: the story has ${plural(page.total, "article")}.`;

    append(clear($("story-articles")), page.items.map((article) => articleItem(article)));
    $("story-articles").start = page.offset + 1;
    renderPager($("articles-pager"), page, (offset) => storyHref(story.id, offset),
      ["newer", "← Newer"], ["older", "Older →"]);
  }

  // One article: its title (a link to its page), outlet, time, and its first lines, said
  // to come from its page when they do; `more` adds to the details line.
  function articleItem(article, more) {
    const href = article.url ? safeUrl(article.url) : null;
    const title = href
      ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, article.title)
      : el("span", null, article.title);
    const lines = excerpt(article.text);
    return el("li", { "data-article-id": article.id, "data-text-source": article.text_source },
      title,
      el("span", { class: "detail" }, ` ${article.outlet}, `, when(article.published_at),
        article.duplicate_of !== null ? ` · reprint of article ${article.duplicate_of}` : null,
        article.text_source === "page" ? " · text from its page" : null,
        ...(more || [])),
      lines ? el("p", { class: "excerpt" }, lines) : null);
  }

  // --- articles --------------------------------------------------------------------------

  function fillArticleFilters(filters) {
    const form = $("article-filters");
    form.elements.q.value = filters.q;
    form.elements.outlet.value = filters.outlet;
    form.elements.since.value = filters.since;
    form.elements.until.value = filters.until;
    form.elements.unclustered.checked = filters.unclustered;
  }

  function applyArticleFilters(event) {
    if (event) event.preventDefault();
    const form = $("article-filters");
    const day = (box) => (isDay(box.value) ? box.value : "");
    const filters = {
      q: form.elements.q.value.trim(),
      outlet: form.elements.outlet.value.trim(),
      since: day(form.elements.since),
      until: day(form.elements.until),
      unclustered: form.elements.unclustered.checked,
    };
    const hash = articlesHash(filters);
    if (hash !== window.location.hash) {
      state.formHash = hash;
      window.location.hash = hash;
    }
  }

  async function refreshArticles(route, filters, offset) {
    let page;
    try {
      page = await getJson(articlesApiPath(filters, offset));
    } catch (err) {
      if (err instanceof HttpError && err.status === 422) {
        if (route === state.route) {
          state.viewKey = null;
          clear($("article-list"));
          clear($("article-pager"));
          $("article-summary").textContent = `The server refused this search: ${err.message}`;
        }
        return;
      }
      throw err;
    }
    if (route !== state.route) return;
    const key = JSON.stringify([state.clock, page.total, page.offset, page.items, filters]);
    if (key !== state.viewKey) {
      state.viewKey = key;
      renderArticleList(page, filters);
    }
  }

  // Where an article stands: in which story, or in none; and, for a feed's text, what
  // became of its page (pending, kept, skipped or failed, and why).
  function standing(article) {
    const story = article.story_id === null
      ? [" · in no story"]
      : [" · in ", el("a", { href: storyHref(article.story_id), class: "story" }, `story ${article.story_id}`)];
    if (article.text_source === "page" || article.extract_state === null) return story;
    const why = article.extract_reason ? `: ${article.extract_reason}` : "";
    return [...story, el("span", { class: "extract" }, ` · page ${article.extract_state}${why}`)];
  }

  function renderArticleList(page, filters) {
    const list = clear($("article-list"));
    append(list, page.items.map((article) => articleItem(article, standing(article))));
    list.start = page.offset + 1;
    if (page.items.length === 0) {
      let empty = filters.unclustered ? "No article is left out of the stories." : "No articles yet.";
      if (page.total > 0) empty = "No articles on this page: go back to an earlier one.";
      else if (filters.q || filters.outlet || filters.since || filters.until) empty = "No article matches this search.";
      list.append(el("li", { class: "empty" }, empty));
    }
    const matching = filters.q || filters.outlet || filters.since || filters.until ? " matching the search" : "";
    const all = plural(page.total, "article");
    const range = page.total === 0 || (page.offset === 0 && page.items.length === page.total)
      ? all
      : pageRange(page, "article");
    $("article-summary").textContent = range
      ? `${range}${matching}, newest first.`
      : `None here: ${all}${matching} in all.`;
    renderPager($("article-pager"), page, (offset) => articlesHash(filters, offset),
      ["newer", "← Newer"], ["older", "Older →"]);
  }

  // Every outlet of the registry, for the outlet filter's suggestions; once per page load.
  async function loadOutletNames() {
    try {
      const list = await getJson("/api/outlets");
      for (const outlet of list.items) state.outlets.add(outlet.outlet);
      renderOutletNames();
    } catch (err) {
      console.warn("storyline: no outlet list", err);
    }
  }

  function renderOutletNames() {
    const names = [...state.outlets].sort((a, b) => a.localeCompare(b));
    append(clear($("outlet-names")), names.map((name) => el("option", { value: name })));
  }

  // --- the chart -------------------------------------------------------------------------

  // The width to draw the chart at: the figure's own, in CSS px. A chart drawn at a fixed
  // width and scaled to fit would shrink its labels with it, to 5 px on a phone.
  function chartWidth(figure) {
    const style = window.getComputedStyle(figure);
    const edges = ["paddingLeft", "paddingRight", "borderLeftWidth", "borderRightWidth"]
      .reduce((sum, name) => sum + (parseFloat(style[name]) || 0), 0);
    const width = figure.getBoundingClientRect().width - edges;
    return width > 0 ? width : 720; // hidden: any width, drawn again once shown
  }

  // The chart's bin: the finest unit (an hour, a day, a week...) that leaves each bar at
  // least MIN_SLOT_PX wide over the story's span, so a story of years is not 1-px hours.
  function chartUnit(first, last, plotW) {
    for (const unit of CHART_UNITS) {
      if ((Math.floor((last - first) / unit.ms) + 1) * MIN_SLOT_PX <= plotW) return unit;
    }
    return CHART_UNITS[CHART_UNITS.length - 1];
  }

  // The timeline's hours summed into bins of `unit` from `origin`: [{at, articles, outlets,
  // hours}], outlets being the most in one of its hours (distinct outlets do not add up).
  function binned(timeline, unit, origin) {
    const bins = new Map();
    for (const point of timeline) {
      const at = origin + Math.floor((new Date(point.hour).getTime() - origin) / unit.ms) * unit.ms;
      const bin = bins.get(at) || { at, articles: 0, outlets: 0, hours: [] };
      bin.articles += point.articles;
      bin.outlets = Math.max(bin.outlets, point.outlets);
      bin.hours.push(point.hour);
      bins.set(at, bin);
    }
    return [...bins.values()].sort((a, b) => a.at - b.at);
  }

  // One bar per hour with articles (per day, week... over a long span), placed on a true
  // time axis so quiet stretches show as gaps. Drawn at the figure's width, one unit a CSS
  // px, so the labels keep their CSS size; the x axis takes only as many labels as fit
  // (days and hours; days and years over a long span), and a new width draws it again.
  function drawChart(timeline) {
    state.timeline = timeline;
    const figure = $("story-chart");
    const old = figure.querySelector("svg, p.empty");
    if (old) old.remove();
    if (timeline.length === 0) {
      $("chart-caption").textContent = "Articles per hour";
      figure.append(el("p", { class: "empty" }, "No articles to chart."));
      return;
    }
    const width = chartWidth(figure);
    figure.dataset.width = String(width);
    // As tall as the old 720 × 220 drawing, within what a phone and a wide page can hold.
    const height = Math.round(Math.min(320, Math.max(200, (width * 220) / 720)));
    const margin = { top: 12, right: 12, bottom: 42, left: 40 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;

    const hours = timeline.map((point) => new Date(point.hour).getTime());
    const unit = chartUnit(Math.min(...hours), Math.max(...hours), plotW);
    const hourly = unit.ms === HOUR_MS;
    // Bins of a day or longer start at a UTC midnight.
    const origin = hourly ? Math.min(...hours) : Math.floor(Math.min(...hours) / DAY_MS) * DAY_MS;
    const points = binned(timeline, unit, origin);
    const first = points[0].at;
    const last = points[points.length - 1].at;
    const slots = Math.round((last - first) / unit.ms) + 1;
    const slotW = plotW / slots;
    const barW = Math.max(1, slotW * 0.8);
    const peak = Math.max(...points.map((point) => point.articles));
    const yMax = Math.max(1, peak);
    const y = (value) => margin.top + plotH - (value / yMax) * plotH;
    const total = points.reduce((sum, point) => sum + point.articles, 0);
    const per = `Articles per ${unit.name}`;
    $("chart-caption").textContent = per;
    const binText = (at) => (hourly ? dateTime(new Date(at).toISOString())
      : `${unit.name === "day" ? "" : "from "}${dayMonth(new Date(at))} ${new Date(at).getUTCFullYear()}`);

    const chart = svg("svg", {
      viewBox: `0 0 ${width.toFixed(2)} ${height}`, role: "img", "aria-labelledby": "chart-title chart-desc",
      preserveAspectRatio: "xMidYMid meet", "data-unit": unit.name,
    },
    svg("title", { id: "chart-title" }, per),
    svg("desc", { id: "chart-desc" },
      `${plural(total, "article")} in ${plural(timeline.length, "hour")} between `
      + `${dateTime(new Date(Math.min(...hours)).toISOString())} and ${dateTime(new Date(Math.max(...hours)).toISOString())}; `
      + `at most ${peak} in one ${unit.name}.`));

    // y axis: gridlines at 0, the middle and the peak (whole numbers only)
    const ticks = [...new Set([0, Math.round(yMax / 2), yMax])];
    const yAxis = svg("g", { class: "axis y" });
    for (const tick of ticks) {
      yAxis.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick), class: "grid" }),
        svg("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" }, tick));
    }
    yAxis.append(svg("text", {
      class: "label", transform: `translate(12 ${margin.top + plotH / 2}) rotate(-90)`, "text-anchor": "middle",
    }, "articles"));
    chart.append(yAxis);

    const bars = svg("g", { class: "bars" });
    points.forEach((point) => {
      const slot = Math.round((point.at - first) / unit.ms);
      const top = y(point.articles);
      bars.append(svg("rect", {
        class: "bar", x: (margin.left + slot * slotW + (slotW - barW) / 2).toFixed(2), y: top.toFixed(2),
        width: barW.toFixed(2), height: (margin.top + plotH - top).toFixed(2),
        // An hour's bar names its hour (as the API does); a longer bin, when it starts.
        "data-hour": hourly ? point.hours[0] : new Date(point.at).toISOString(), "data-articles": point.articles,
      }, svg("title", null,
        `${binText(point.at)}: ${plural(point.articles, "article")}, ${plural(point.outlets, "outlet")}`
        + `${hourly ? "" : " at most in one hour"}`)));
    });
    chart.append(bars);

    // x axis: the first and last bin, and between them a label at each midnight (hourly)
    // or each month's first bin (longer bins) if there is room. The second line is the
    // hour, or over longer bins the year.
    const xAxis = svg("g", { class: "axis x" },
      svg("line", { x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
    const labels = [{ at: first, anchor: "start" }];
    const middles = [];
    let month = new Date(first).getUTCMonth();
    for (let t = first + unit.ms; t < last; t += unit.ms) {
      const date = new Date(t);
      if (hourly ? date.getUTCHours() === 0 : date.getUTCMonth() !== month) middles.push(t);
      month = date.getUTCMonth();
    }
    const room = Math.floor(plotW / 90);
    const step = Math.max(1, Math.ceil(middles.length / Math.max(1, room - 2)));
    middles.filter((_t, i) => i % step === 0).forEach((t) => labels.push({ at: t, anchor: "middle" }));
    if (last > first) labels.push({ at: last, anchor: "end" });
    const xOf = (t) => margin.left + (Math.round((t - first) / unit.ms) + 0.5) * slotW;
    // Each label gets 70 px (its 12 px "16 Nov" is about 45); a midnight that would touch
    // its neighbour or the last hour's label is left out, the first and last never.
    const labelW = 70;
    const endLeft = width - margin.right - labelW;
    let lastRight = -Infinity;
    for (const label of labels) {
      const date = new Date(label.at);
      const x = label.anchor === "start" ? margin.left : label.anchor === "end" ? width - margin.right : xOf(label.at);
      const left = label.anchor === "start" ? x : label.anchor === "end" ? x - labelW : x - labelW / 2;
      if (label.anchor === "middle" && (left < lastRight + 8 || left + labelW > endLeft - 8)) continue;
      lastRight = left + labelW;
      xAxis.append(
        svg("line", { x1: xOf(label.at), x2: xOf(label.at), y1: margin.top + plotH, y2: margin.top + plotH + 4 }),
        svg("text", { x, y: margin.top + plotH + 16, "text-anchor": label.anchor }, dayMonth(date)),
        svg("text", { x, y: margin.top + plotH + 29, "text-anchor": label.anchor, class: "sub" },
          hourly ? `${hhmm(date)}` : String(date.getUTCFullYear())));
    }
    chart.append(xAxis);
    figure.append(chart);
  }

  // --- routing and polling ---------------------------------------------------------------

  // Draw the current view again from the API (each answer an ETag away from a 304).
  async function refresh() {
    const route = state.route;
    const current = parseHash();
    if (current.view === "trending") {
      await refreshTrending(route, hoursOf(current.query), current.query.get("more") === "1");
      return;
    }
    const before = state.updatedAt;
    await refreshClock(null);
    if (route !== state.route) return;
    if (current.view === "list") {
      await refreshList(route, listFilters(current.query), offsetOf(current.query));
    } else if (current.view === "articles") {
      await refreshArticles(route, articleFilters(current.query), offsetOf(current.query));
    } else if (state.storyKey === null || state.updatedAt !== before) {
      await refreshStory(route, current.id, offsetOf(current.query));
    }
  }

  function route() {
    const current = parseHash();
    const fromForm = state.formHash !== null && window.location.hash === state.formHash;
    state.formHash = null;
    const previous = { view: state.view, storyId: state.storyId, listHash: state.listHash };
    state.route += 1;
    state.view = current.view;
    state.viewKey = null;
    state.storyKey = null;
    $("list-view").hidden = current.view !== "list";
    $("trending-view").hidden = current.view !== "trending";
    $("articles-view").hidden = current.view !== "articles";
    $("story-view").hidden = current.view !== "story";
    for (const [tab, view] of [["tab-list", "list"], ["tab-trending", "trending"], ["tab-articles", "articles"]]) {
      if (current.view === view) $(tab).setAttribute("aria-current", "page");
      else $(tab).removeAttribute("aria-current");
    }

    // A new page of the same list or story starts where the pager's count says "11–20 of":
    // focus (and so scroll) there, not left at the foot of the page just read.
    let focus = null;
    if (current.view === "story") {
      const changed = previous.view !== "story" || previous.storyId !== current.id;
      state.storyId = current.id;
      $("story-back").setAttribute("href", state.listHash);
      if (changed) {
        $("story-title").textContent = "Loading…";
        focus = $("story-title");
      } else {
        focus = $("articles-count");
      }
    } else if (current.view === "articles") {
      state.storyId = null;
      const filters = articleFilters(current.query);
      // Coming from another view, to the heading (as a story's page does); a new page of
      // the same search, to its count.
      const before = articleFilters(parseHash(state.articlesHash).query);
      const samePages = articlesHash(filters) === articlesHash(before);
      if (previous.view !== "articles") focus = $("articles-title");
      else if (samePages && window.location.hash !== state.articlesHash) focus = $("article-summary");
      state.articlesHash = window.location.hash;
      if (!fromForm) fillArticleFilters(filters);
      const what = filters.unclustered ? "Articles in no story" : "Latest";
      $("articles-title").textContent = what;
      document.title = `${what} · Storyline`;
    } else {
      state.storyId = null;
      document.title = current.view === "trending" ? "Breaking · Storyline" : "Storyline";
      if (current.view === "list") {
        const filters = listFilters(current.query);
        const offset = offsetOf(current.query);
        state.listHash = listHash(filters, offset);
        const samePages = listHash(filters) === listHash(listFilters(parseHash(previous.listHash).query));
        if (previous.view === "list" && samePages && state.listHash !== previous.listHash) focus = $("list-summary");
        if (fromForm) showFiltersSet(filters);
        else fillFilters(filters);
      } else {
        $("t-hours").value = String(hoursOf(current.query));
      }
    }
    refresh().then(() => {
      if (focus) focus.focus();
    }, reportError);
  }

  function reportError(err) {
    const when = hhmm(new Date());
    setStatus(`cannot reach the server (${when}); retrying`, true);
    $("status").dataset.key = "";
    console.warn("storyline:", err);
  }

  async function poll() {
    try {
      await refresh();
    } catch (err) {
      reportError(err);
    } finally {
      window.setTimeout(poll, REFRESH_MS);
    }
  }

  NARROW.addEventListener("change", foldFilters);
  foldFilters();
  $("filters").addEventListener("submit", applyFilters);
  $("filters").addEventListener("change", applyFilters);
  // A date box applies as soon as it holds a whole day (yyyy-mm-dd) or nothing, as a date
  // picker would; a text box's "change" would wait for it to lose the focus.
  for (const [box, apply] of [[$("f-since"), applyFilters], [$("f-until"), applyFilters],
    [$("a-since"), applyArticleFilters], [$("a-until"), applyArticleFilters]]) {
    box.addEventListener("input", () => {
      const good = box.value === "" || isDay(box.value);
      // Said by the box (and to a screen reader) when the form is sent; not a day, not applied.
      box.setCustomValidity(good || box.value.length < 10 ? "" : "Not a day: give it as yyyy-mm-dd, e.g. 2015-11-18.");
      if (good) apply();
    });
  }
  // Empty the form at once, not when the hash change arrives: a filter set in between
  // would otherwise carry the old ones with it.
  $("f-clear").addEventListener("click", () => fillFilters(listFilters(new URLSearchParams())));
  $("article-filters").addEventListener("submit", applyArticleFilters);
  $("article-filters").addEventListener("change", applyArticleFilters);
  $("a-clear").addEventListener("click", () => fillArticleFilters(articleFilters(new URLSearchParams())));
  $("trending-form").addEventListener("change", () => {
    window.location.hash = trendingHash(Number($("t-hours").value), false);
  });
  window.addEventListener("hashchange", route);
  // A new width (a phone turned, a window resized) draws the chart again at it; in the next
  // frame, as a redraw inside the observer's own callback would be reported as a loop.
  new ResizeObserver(() => window.requestAnimationFrame(() => {
    const figure = $("story-chart");
    if (!state.timeline || state.timeline.length === 0 || figure.getBoundingClientRect().width === 0) return;
    if (Math.abs(chartWidth(figure) - Number(figure.dataset.width)) > 0.5) drawChart(state.timeline);
  })).observe($("story-chart"));
  route();
  loadOutletNames();
  window.setTimeout(poll, REFRESH_MS);
})();
