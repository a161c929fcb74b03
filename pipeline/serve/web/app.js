// Storyline dashboard: the ranked stories and one story's chart, outlets and articles.
// Plain DOM, no dependencies. Every piece of data goes in through textContent or an
// attribute, never innerHTML, so a headline cannot inject markup.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  // ?refresh=SECONDS polls faster (the browser tests use 1); ?limit=N shows more stories.
  const REFRESH_MS = Math.max(0.2, Number(params.get("refresh")) || 15) * 1000;
  const LIMIT = Math.min(200, Math.max(1, Math.floor(Number(params.get("limit")) || 50)));
  const HOUR_MS = 3600 * 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  const state = {
    listKey: null, // updated_at + items, as last rendered
    storyKey: null,
    storyId: null,
    updatedAt: null,
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

  function hhmm(date) {
    return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function dayMonth(date) {
    return `${date.getDate()} ${MONTHS[date.getMonth()]}`;
  }

  function dateTime(iso) {
    const date = new Date(iso);
    return `${dayMonth(date)} ${date.getFullYear()}, ${hhmm(date)}`;
  }

  function timeEl(iso, text) {
    return el("time", { datetime: iso }, text || dateTime(iso));
  }

  function plural(n, word, many) {
    return `${n} ${n === 1 ? word : many || `${word}s`}`;
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

  function storyHref(id) {
    return `#/story/${encodeURIComponent(id)}`;
  }

  // --- data ------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      body = null;
    }
    if (!response.ok) {
      throw new HttpError(response.status, (body && body.detail) || response.statusText);
    }
    return body;
  }

  function setStatus(text, problem) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("problem", Boolean(problem));
    status.dataset.shown = problem ? "0" : "1";
  }

  function showUpdated(updatedAt) {
    const status = $("status");
    // Rewrite the live region only when it changes, so screen readers are not told every poll.
    if (updatedAt === state.updatedAt && status.dataset.shown === "1") return;
    state.updatedAt = updatedAt;
    status.dataset.shown = "1";
    if (!updatedAt) {
      setStatus("no clustering run yet");
      return;
    }
    clear(status);
    status.classList.remove("problem");
    append(status, ["updated ", timeEl(updatedAt, hhmm(new Date(updatedAt)))]);
  }

  // --- the list --------------------------------------------------------------------------

  async function refreshList() {
    const page = await getJson(`/api/stories?order=rank&limit=${LIMIT}`);
    const key = JSON.stringify([page.updated_at, page.total, page.items]);
    if (key !== state.listKey) {
      state.listKey = key;
      renderList(page);
    }
    showUpdated(page.updated_at);
    return page;
  }

  function renderList(page) {
    state.renders += 1;
    const body = clear($("stories-body"));
    page.items.forEach((story, index) => {
      const keywords = el("ul", { class: "keywords", "aria-label": "Keywords" },
        story.keywords.map((word) => el("li", null, word)));
      body.append(el("tr", { "data-story-id": story.id },
        el("td", { class: "num rank" }, page.offset + index + 1),
        el("th", { scope: "row", class: "title" },
          el("a", { href: storyHref(story.id) }, story.title),
          story.status === "active" ? null : el("span", { class: "badge" }, story.status)),
        el("td", null, keywords),
        el("td", { class: "num" }, story.articles,
          story.articles_last_24h
            ? el("span", { class: "recent", title: "in the last 24 hours" }, ` +${story.articles_last_24h}`,
              el("span", { class: "visually-hidden" }, " in the last 24 hours"))
            : null),
        el("td", { class: "num" }, story.outlets),
        el("td", null, timeEl(story.last_seen))));
    });
    if (page.items.length === 0) {
      body.append(el("tr", null, el("td", { colspan: 6, class: "empty" },
        "No stories yet: run the pipeline (storyline run, or storyline demo).")));
    }
    const shown = page.items.length;
    $("list-summary").textContent = page.total > shown
      ? `The top ${shown} of ${plural(page.total, "story", "stories")}.`
      : `${plural(page.total, "story", "stories")}.`;
  }

  // --- one story -------------------------------------------------------------------------

  async function refreshStory(id) {
    let story;
    try {
      story = await getJson(`/api/stories/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) {
        if (state.storyId === id) renderMissing(id, err.message);
        return;
      }
      throw err;
    }
    if (state.storyId !== id) return; // the reader moved on while we waited
    const key = JSON.stringify(story);
    if (key !== state.storyKey) {
      state.storyKey = key;
      renderStory(story);
    }
  }

  function renderMissing(id, detail) {
    state.storyKey = null;
    document.title = "Story not found · Storyline";
    $("story-title").textContent = `No story ${id}`;
    $("story-meta").textContent = detail || "";
    for (const part of ["story-keywords", "story-outlets", "story-articles", "story-history"]) {
      clear($(part));
    }
    $("story-notice").hidden = true;
    drawChart([]);
  }

  function renderStory(story) {
    document.title = `${story.title} · Storyline`;
    $("story-title").textContent = story.title;

    const meta = clear($("story-meta"));
    append(meta, [
      `${plural(story.articles, "article")} from ${plural(story.outlets, "outlet")}, `,
      timeEl(story.first_seen), " – ", timeEl(story.last_seen),
      ` · ${story.articles_last_24h} in the last 24 hours · ${story.status}`,
    ]);

    const notice = clear($("story-notice"));
    notice.hidden = story.merged_into_id === null;
    if (story.merged_into_id !== null) {
      append(notice, ["Merged into ", el("a", { href: storyHref(story.merged_into_id) },
        `story ${story.merged_into_id}`), "."]);
    }

    append(clear($("story-keywords")), story.keywords.map((word) => el("li", null, word)));

    append(clear($("story-outlets")), story.sources.map((outlet, index) => el("li", null,
      el("span", { class: "outlet" }, outlet.outlet),
      index === 0 ? el("span", { class: "badge first" }, "broke it") : null,
      el("span", { class: "detail" }, ` ${plural(outlet.articles, "article")}, first `,
        timeEl(outlet.first_article_at)))));

    append(clear($("story-articles")), story.article_page.items.map((article) => {
      const href = article.url ? safeUrl(article.url) : null;
      const title = href
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, article.title)
        : el("span", null, article.title);
      return el("li", { "data-article-id": article.id },
        title,
        el("span", { class: "detail" }, ` ${article.outlet}, `, timeEl(article.published_at),
          article.duplicate_of !== null ? ` · reprint of article ${article.duplicate_of}` : null));
    }));

    append(clear($("story-history")), story.history.map((event) => el("li", null,
      timeEl(event.at), ` ${event.kind}`,
      event.other_story_id !== null
        ? [" (", el("a", { href: storyHref(event.other_story_id) }, `story ${event.other_story_id}`), ")"]
        : null)));

    drawChart(story.timeline);
  }

  // --- the chart -------------------------------------------------------------------------

  // One bar per hour with articles, placed on a true time axis so quiet hours show as gaps.
  function drawChart(timeline) {
    const figure = $("story-chart");
    const old = figure.querySelector("svg, p.empty");
    if (old) old.remove();
    if (timeline.length === 0) {
      figure.append(el("p", { class: "empty" }, "No articles to chart."));
      return;
    }
    const width = 720;
    const height = 220;
    const margin = { top: 12, right: 12, bottom: 42, left: 40 };
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;

    const hours = timeline.map((point) => new Date(point.hour).getTime());
    const first = Math.min(...hours);
    const last = Math.max(...hours);
    const slots = Math.round((last - first) / HOUR_MS) + 1;
    const slotW = plotW / slots;
    const barW = Math.max(1, slotW * 0.8);
    const peak = Math.max(...timeline.map((point) => point.articles));
    const yMax = Math.max(1, peak);
    const y = (value) => margin.top + plotH - (value / yMax) * plotH;
    const total = timeline.reduce((sum, point) => sum + point.articles, 0);

    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-title chart-desc",
      preserveAspectRatio: "xMidYMid meet",
    },
    svg("title", { id: "chart-title" }, "Articles per hour"),
    svg("desc", { id: "chart-desc" },
      `${plural(total, "article")} in ${plural(timeline.length, "hour")} between `
      + `${dateTime(new Date(first).toISOString())} and ${dateTime(new Date(last).toISOString())}; `
      + `at most ${peak} in one hour.`));

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
    timeline.forEach((point, index) => {
      const slot = Math.round((hours[index] - first) / HOUR_MS);
      const top = y(point.articles);
      bars.append(svg("rect", {
        class: "bar", x: (margin.left + slot * slotW + (slotW - barW) / 2).toFixed(2), y: top.toFixed(2),
        width: barW.toFixed(2), height: (margin.top + plotH - top).toFixed(2),
        "data-hour": point.hour, "data-articles": point.articles,
      }, svg("title", null,
        `${dateTime(point.hour)}: ${plural(point.articles, "article")}, ${plural(point.outlets, "outlet")}`)));
    });
    chart.append(bars);

    // x axis: the first and last hour, and a label at each midnight if there is room
    const xAxis = svg("g", { class: "axis x" },
      svg("line", { x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
    const labels = [{ at: first, anchor: "start" }];
    const midnights = [];
    for (let t = first + HOUR_MS; t < last; t += HOUR_MS) {
      if (new Date(t).getHours() === 0) midnights.push(t);
    }
    const room = Math.floor(plotW / 90);
    const step = Math.max(1, Math.ceil(midnights.length / Math.max(1, room - 2)));
    midnights.filter((_t, i) => i % step === 0).forEach((t) => labels.push({ at: t, anchor: "middle" }));
    if (last > first) labels.push({ at: last, anchor: "end" });
    const xOf = (t) => margin.left + (Math.round((t - first) / HOUR_MS) + 0.5) * slotW;
    let lastRight = -Infinity;
    for (const label of labels) {
      const date = new Date(label.at);
      const x = label.anchor === "start" ? margin.left : label.anchor === "end" ? width - margin.right : xOf(label.at);
      const left = label.anchor === "start" ? x : label.anchor === "end" ? x - 70 : x - 35;
      if (left < lastRight + 8 && label.anchor !== "end") continue;
      lastRight = left + 70;
      xAxis.append(
        svg("line", { x1: xOf(label.at), x2: xOf(label.at), y1: margin.top + plotH, y2: margin.top + plotH + 4 }),
        svg("text", { x, y: margin.top + plotH + 16, "text-anchor": label.anchor }, dayMonth(date)),
        svg("text", { x, y: margin.top + plotH + 29, "text-anchor": label.anchor, class: "sub" }, `${hhmm(date)}`));
    }
    chart.append(xAxis);
    figure.append(chart);
  }

  // --- routing and polling ---------------------------------------------------------------

  function route() {
    const match = /^#\/story\/(\d+)$/.exec(window.location.hash);
    const storyView = $("story-view");
    const listView = $("list-view");
    if (match) {
      const id = Number(match[1]);
      const changed = state.storyId !== id;
      state.storyId = id;
      listView.hidden = true;
      storyView.hidden = false;
      if (changed) {
        state.storyKey = null;
        $("story-title").textContent = "Loading…";
        refreshStory(id).then(() => $("story-title").focus(), reportError);
      }
    } else {
      state.storyId = null;
      state.storyKey = null;
      storyView.hidden = true;
      listView.hidden = false;
      document.title = "Storyline";
    }
  }

  function reportError(err) {
    const when = hhmm(new Date());
    setStatus(`cannot reach the server (${when}); retrying`, true);
    console.warn("storyline:", err);
  }

  async function poll() {
    try {
      const before = state.updatedAt;
      const page = await refreshList();
      if (state.storyId !== null && (page.updated_at !== before || state.storyKey === null)) {
        await refreshStory(state.storyId);
      }
    } catch (err) {
      reportError(err);
    } finally {
      window.setTimeout(poll, REFRESH_MS);
    }
  }

  window.addEventListener("hashchange", route);
  route();
  poll();
})();
