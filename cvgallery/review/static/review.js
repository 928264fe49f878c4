/* cvgallery review page: a virtualised, keyboard-first grid of pictures to decide about.
 *
 * The page takes a snapshot of the ids of a view (api/ids), lays them out in rows of a
 * fixed height, and renders only the rows near the screen; the items' details come in
 * pages of 200 ids (api/items?id=...) as they scroll into view. Decisions are POSTed one
 * at a time, in order (a queue), with the page's token; the item changes at once and
 * stays where it is, marked with its new state. No build step, no dependencies.
 */
(() => {
  "use strict";

  const PAGE = 200;
  const GAP = 10;
  const META_H = 104; // the text lines and the buttons under a thumbnail (see review.css)
  const GROUP_H = 24; // the label strip above each row of the Duplicates view
  const STATUS_H = 34;
  const VIEWS = ["pending", "approved", "rejected", "all", "dupes"];
  const STATE_LABEL = { pending: "Pending", approved: "Approved", rejected: "Rejected" };

  const tokenMeta = document.querySelector('meta[name="cvgallery-token"]');
  const TOKEN = tokenMeta.content;
  const TOKEN_HEADER = tokenMeta.dataset.header;
  const THRESHOLD = document.querySelector('meta[name="cvgallery-threshold"]').content;

  const $ = (selector) => document.querySelector(selector);
  const grid = $("#grid");
  const bar = $(".bar");
  const statusLine = $("#status");
  const emptyNote = $("#empty");
  const userSelect = $("#user");
  const viewer = $("#viewer");
  const viewerImg = viewer.querySelector("img");
  const reasonDialog = $("#reason");
  const reasonInput = $("#reason-text");
  const helpDialog = $("#help");
  const undoButton = $("#undo");
  const advanceBox = $("#advance");

  const S = {
    view: "pending",
    user: "",
    generation: 0, // bumped by every new view: late answers of an old one are dropped
    ids: [],
    posOf: new Map(),
    items: new Map(),
    pages: new Set(),
    groupOf: null, // Duplicates view: the group of each position
    rowStart: new Int32Array(0),
    rowOf: new Int32Array(0),
    cols: 1,
    thumbH: 150,
    rowH: 254,
    stride: 264,
    gridTop: 0,
    rendered: new Map(), // row -> its element
    focus: 0,
    anchor: 0,
    selected: new Set(),
    undo: [],
    queue: Promise.resolve(),
    inflight: 0,
    viewerPos: -1,
  };

  // -- talking to the server -------------------------------------------------------------

  async function getJSON(path) {
    const response = await fetch(`/_review/${path}`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(await failure(response));
    return response.json();
  }

  async function postDecision(body) {
    const response = await fetch("/_review/api/decide", {
      method: "POST",
      headers: { "Content-Type": "application/json", [TOKEN_HEADER]: TOKEN },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await failure(response));
    return response.json();
  }

  async function failure(response) {
    const text = await response.text();
    try {
      return JSON.parse(text).error || text;
    } catch (_) {
      return text.trim() || `${response.status} ${response.statusText}`;
    }
  }

  function query(params) {
    return Object.entries(params)
      .filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join("&");
  }

  function say(message, error = false) {
    statusLine.textContent = message;
    statusLine.classList.toggle("error", error);
  }

  // -- views -------------------------------------------------------------------------------

  async function loadView() {
    const generation = ++S.generation;
    S.ids = [];
    S.posOf = new Map();
    S.items = new Map();
    S.pages = new Set();
    S.groupOf = null;
    S.selected.clear();
    S.focus = S.anchor = 0;
    for (const button of document.querySelectorAll(".views button")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === S.view));
    }
    history.replaceState(null, "", `#${query({ view: S.view, user: S.user })}`);
    grid.classList.toggle("dupes", S.view === "dupes");
    layout();
    try {
      if (S.view === "dupes") {
        say("Looking for near-duplicates (pictures not hashed yet are hashed now)…");
        const found = await getJSON(`api/dupes?${query({ user: S.user, threshold: THRESHOLD })}`);
        if (generation !== S.generation) return;
        const groupOf = [];
        found.groups.forEach((group, g) => {
          for (const item of group) {
            S.items.set(item.id, item);
            S.ids.push(item.id);
            groupOf.push(g);
          }
        });
        S.groupOf = Int32Array.from(groupOf);
        const failed = found.failed.length ? `; ${found.failed.length} could not be read` : "";
        const groups = found.groups.length === 1 ? "1 group" : `${found.groups.length} groups`;
        say(`${groups} of near-duplicates${failed}. d keeps the focused picture and rejects the rest of its group.`);
      } else {
        const state = S.view === "all" ? "" : S.view;
        const found = await getJSON(`api/ids?${query({ state, user: S.user })}`);
        if (generation !== S.generation) return;
        S.ids = found.ids;
        say(`${S.ids.length} ${S.view === "all" ? "" : S.view + " "}pictures. Press ? for the keys.`);
      }
    } catch (error) {
      say(`Could not load the pictures: ${error.message}`, true);
      return;
    }
    S.ids.forEach((id, i) => S.posOf.set(id, i));
    emptyNote.hidden = S.ids.length > 0;
    layout();
    setFocus(0);
    refreshCounts();
  }

  async function refreshCounts() {
    try {
      const summary = await getJSON(`api/summary?${query({ user: S.user })}`);
      for (const button of document.querySelectorAll(".views button")) {
        const count = summary.counts[button.dataset.view];
        const span = button.querySelector(".count");
        if (span && count !== undefined) span.textContent = count.toLocaleString();
      }
      const known = new Set([...userSelect.options].map((o) => o.value));
      for (const user of summary.users) {
        if (!known.has(user)) userSelect.add(new Option(user, user));
      }
    } catch (_) {
      /* the counts are a convenience; the grid says what went wrong */
    }
  }

  // -- layout and rendering ----------------------------------------------------------------

  function layout() {
    const width = grid.clientWidth || window.innerWidth;
    const minCell = width < 520 ? 140 : 190;
    S.cols = Math.max(1, Math.floor((width + GAP) / (minCell + GAP)));
    const cellW = (width - GAP * (S.cols - 1)) / S.cols;
    S.thumbH = Math.round(cellW * 0.75);
    S.rowH = S.thumbH + META_H + (S.view === "dupes" ? GROUP_H : 0);
    S.stride = S.rowH + GAP;
    const starts = [];
    const n = S.ids.length;
    if (S.groupOf) {
      let i = 0;
      while (i < n) {
        let end = i;
        while (end < n && S.groupOf[end] === S.groupOf[i]) end++;
        for (let p = i; p < end; p += S.cols) starts.push(p);
        i = end;
      }
    } else {
      for (let p = 0; p < n; p += S.cols) starts.push(p);
    }
    S.rowStart = Int32Array.from(starts);
    S.rowOf = new Int32Array(n);
    for (let r = 0; r < starts.length; r++) {
      const end = r + 1 < starts.length ? starts[r + 1] : n;
      S.rowOf.fill(r, starts[r], end);
    }
    grid.style.setProperty("--cols", S.cols);
    grid.style.setProperty("--thumb-h", `${S.thumbH}px`);
    grid.style.height = `${Math.max(0, starts.length * S.stride - GAP)}px`;
    grid.setAttribute("aria-rowcount", String(starts.length));
    grid.setAttribute("aria-colcount", String(S.cols));
    S.gridTop = grid.getBoundingClientRect().top + window.scrollY;
    for (const row of S.rendered.values()) row.remove();
    S.rendered.clear();
    render();
  }

  function rowEnd(r) {
    return r + 1 < S.rowStart.length ? S.rowStart[r + 1] : S.ids.length;
  }

  function render() {
    const rows = S.rowStart.length;
    if (!rows) return;
    const margin = window.innerHeight / 2;
    S.gridTop = grid.getBoundingClientRect().top + window.scrollY; // the bar may have wrapped
    const top = window.scrollY - S.gridTop - margin;
    const first = Math.max(0, Math.floor(top / S.stride));
    const last = Math.min(rows - 1, Math.floor((top + window.innerHeight + 2 * margin) / S.stride));
    const focusRow = S.rowOf[S.focus];
    for (const [r, row] of S.rendered) {
      if ((r < first || r > last) && r !== focusRow) {
        row.remove();
        S.rendered.delete(r);
      }
    }
    for (let r = first; r <= last; r++) {
      if (!S.rendered.has(r)) addRow(r);
    }
    fetchPages(S.rowStart[first], rowEnd(last));
  }

  function addRow(r) {
    const row = document.createElement("div");
    row.className = "row";
    row.setAttribute("role", "row");
    row.setAttribute("aria-rowindex", String(r + 1));
    row.style.transform = `translateY(${r * S.stride}px)`;
    row.style.height = `${S.rowH}px`;
    const start = S.rowStart[r];
    for (let p = start; p < rowEnd(r); p++) row.append(makeCell(p));
    if (S.groupOf && (start === 0 || S.groupOf[start - 1] !== S.groupOf[start])) {
      row.classList.add("group-start");
      const label = document.createElement("div");
      label.className = "group";
      let size = 0;
      while (start + size < S.ids.length && S.groupOf[start + size] === S.groupOf[start]) size++;
      label.textContent = `Group ${S.groupOf[start] + 1} · ${size} near-duplicates`;
      row.append(label); // after the cells: a cell's index in its row stays its column
    }
    S.rendered.set(r, row);
    grid.append(row);
  }

  function cellAt(p) {
    const row = S.rendered.get(S.rowOf[p]);
    return row ? row.children[p - S.rowStart[S.rowOf[p]]] : null;
  }

  function makeCell(p) {
    const id = S.ids[p];
    const item = S.items.get(id);
    const cell = document.createElement("div");
    cell.setAttribute("role", "gridcell");
    cell.dataset.id = id;
    cell.dataset.pos = String(p);
    const focused = p === S.focus;
    const selected = S.selected.has(id);
    cell.className = `cell state-${item ? item.state : "pending"}${item ? "" : " skeleton"}`;
    if (focused) cell.classList.add("focus");
    if (selected) cell.classList.add("selected");
    if (item && item.saving) cell.classList.add("saving");
    cell.tabIndex = focused ? 0 : -1;
    cell.setAttribute("aria-selected", String(selected || (focused && !S.selected.size)));

    const frame = document.createElement("div");
    frame.className = "frame";
    const ph = document.createElement("div");
    const w = (item && item.width) || 4;
    const h = (item && item.height) || 3;
    ph.className = `ph ${w / h >= 4 / 3 ? "wide" : "tall"}`;
    ph.style.aspectRatio = `${w} / ${h}`;
    const img = document.createElement("img");
    img.alt = item ? `Picture ${id}${item.user ? ` by ${item.user}` : ""}` : `Picture ${id}`;
    img.decoding = "async";
    img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
    img.src = `/_review/thumb/${encodeURIComponent(id)}`;
    ph.append(img);
    frame.append(ph);
    const badge = document.createElement("span");
    badge.className = "badge";
    if (item) {
      badge.textContent = STATE_LABEL[item.state] + (item.reason ? `: ${item.reason}` : "");
      if (item.reason) badge.title = item.reason;
    }
    frame.append(badge);
    cell.append(frame);

    const meta = document.createElement("div");
    meta.className = "meta";
    const idLine = document.createElement("div");
    idLine.className = "id";
    idLine.textContent = id;
    idLine.title = id;
    meta.append(idLine);
    const facts = document.createElement("div");
    facts.className = "line";
    const source = document.createElement("div");
    source.className = "line";
    if (item) {
      const parts = [item.user || "no user", megabytes(item.size)];
      if (item.width && item.height) parts.push(`${item.width}×${item.height}`);
      if (item.video) parts.push("video");
      facts.textContent = parts.join(" · ");
      const link = sourceLink(item.url);
      if (link) source.append(link);
      else source.textContent = "no source URL";
    } else {
      facts.textContent = "…";
    }
    meta.append(facts, source);
    cell.append(meta);

    const acts = document.createElement("div");
    acts.className = "acts";
    for (const [name, label] of [["approve", "Approve"], ["reject", "Reject"], ["view", "View"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = name;
      button.dataset.act = name;
      button.tabIndex = -1; // the grid is one tab stop; its keys do the same
      button.textContent = label;
      button.setAttribute("aria-label", `${label} ${id}`);
      acts.append(button);
    }
    cell.append(acts);
    return cell;
  }

  function sourceLink(url) {
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
    const link = document.createElement("a");
    link.href = url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.tabIndex = -1;
    link.title = url;
    try {
      const parsed = new URL(url);
      link.textContent = parsed.host + parsed.pathname;
    } catch (_) {
      link.textContent = url;
    }
    return link;
  }

  function megabytes(size) {
    if (size === null || size === undefined) return "size unknown";
    if (size < 1000) return `${size} B`;
    if (size < 1e6) return `${(size / 1e3).toFixed(0)} kB`;
    return `${(size / 1e6).toFixed(1)} MB`;
  }

  function refreshCell(id) {
    const p = S.posOf.get(id);
    if (p === undefined) return;
    const old = cellAt(p);
    if (!old) return;
    const hadFocus = document.activeElement === old;
    const fresh = makeCell(p);
    old.replaceWith(fresh);
    if (hadFocus) fresh.focus({ preventScroll: true });
  }

  function fetchPages(from, to) {
    if (S.groupOf) return; // the Duplicates view came with its items
    for (let page = Math.floor(from / PAGE); page * PAGE < to; page++) {
      if (S.pages.has(page)) continue;
      S.pages.add(page);
      loadPage(page, S.generation);
    }
  }

  async function loadPage(page, generation) {
    const ids = S.ids.slice(page * PAGE, (page + 1) * PAGE);
    const chunks = [[]];
    let length = 0;
    for (const id of ids) {
      const part = `id=${encodeURIComponent(id)}`;
      if (length + part.length > 12000) {
        chunks.push([]);
        length = 0;
      }
      chunks[chunks.length - 1].push(part);
      length += part.length + 1;
    }
    try {
      const answers = await Promise.all(chunks.map((c) => getJSON(`api/items?${c.join("&")}`)));
      if (generation !== S.generation) return;
      for (const answer of answers) for (const item of answer.items) S.items.set(item.id, item);
    } catch (error) {
      S.pages.delete(page);
      say(`Could not load pictures: ${error.message}`, true);
      return;
    }
    const first = page * PAGE;
    const last = Math.min(S.ids.length, first + PAGE) - 1;
    for (let r = S.rowOf[first]; r <= S.rowOf[last]; r++) {
      const row = S.rendered.get(r);
      if (!row) continue;
      const hadFocus = row.contains(document.activeElement);
      row.remove();
      S.rendered.delete(r);
      addRow(r);
      if (hadFocus) focusCell();
    }
  }

  // -- focus and selection -----------------------------------------------------------------

  function setFocus(p, how = {}) {
    const n = S.ids.length;
    if (!n) {
      updateSelectionNote();
      return;
    }
    p = Math.max(0, Math.min(n - 1, p));
    const old = cellAt(S.focus);
    if (old) {
      old.classList.remove("focus");
      old.tabIndex = -1;
    }
    S.focus = p;
    if (how.extend) {
      selectRange(S.anchor, p);
    } else if (!how.keep) {
      clearSelection();
      S.anchor = p;
    }
    reveal(p);
    focusCell();
    updateSelectionNote();
  }

  function focusCell() {
    const cell = cellAt(S.focus);
    if (!cell) return;
    cell.classList.add("focus");
    cell.tabIndex = 0;
    cell.setAttribute("aria-selected", String(S.selected.has(S.ids[S.focus]) || !S.selected.size));
    const active = document.activeElement;
    if (!active || active === document.body || grid.contains(active)) {
      cell.focus({ preventScroll: true });
    }
  }

  function reveal(p) {
    S.gridTop = grid.getBoundingClientRect().top + window.scrollY;
    const top = S.gridTop + S.rowOf[p] * S.stride;
    const bottom = top + S.rowH;
    const visibleTop = window.scrollY + bar.offsetHeight + GAP;
    const visibleBottom = window.scrollY + window.innerHeight - STATUS_H - GAP;
    if (top < visibleTop) {
      window.scrollTo(0, top - bar.offsetHeight - GAP);
    } else if (bottom > visibleBottom) {
      window.scrollTo(0, bottom - window.innerHeight + STATUS_H + GAP);
    }
    render();
  }

  function markSelected(id, on) {
    if (on) S.selected.add(id);
    else S.selected.delete(id);
    const p = S.posOf.get(id);
    const cell = p === undefined ? null : cellAt(p);
    if (cell) {
      cell.classList.toggle("selected", on);
      cell.setAttribute("aria-selected", String(on));
    }
  }

  function clearSelection() {
    for (const id of [...S.selected]) markSelected(id, false);
  }

  function selectRange(a, b) {
    const [low, high] = a <= b ? [a, b] : [b, a];
    for (const id of [...S.selected]) {
      const p = S.posOf.get(id);
      if (p < low || p > high) markSelected(id, false);
    }
    for (let p = low; p <= high; p++) if (!S.selected.has(S.ids[p])) markSelected(S.ids[p], true);
  }

  function updateSelectionNote() {
    const n = S.selected.size;
    $("#selection").textContent = n > 1 ? `${n.toLocaleString()} selected` : "";
  }

  /** The pictures a decision is about: the selection, else the focused one. */
  function targets() {
    if (S.selected.size) return [...S.selected].sort((x, y) => S.posOf.get(x) - S.posOf.get(y));
    return S.ids.length ? [S.ids[S.focus]] : [];
  }

  function moveInRow(delta, how) {
    setFocus(S.focus + delta, how);
  }

  function moveRows(delta, how) {
    const r = S.rowOf[S.focus];
    const target = Math.max(0, Math.min(S.rowStart.length - 1, r + delta));
    if (target === r) return setFocus(delta < 0 ? S.rowStart[r] : rowEnd(r) - 1, how);
    const column = S.focus - S.rowStart[r];
    setFocus(Math.min(S.rowStart[target] + column, rowEnd(target) - 1), how);
  }

  function screenRows() {
    return Math.max(1, Math.floor((window.innerHeight - bar.offsetHeight - STATUS_H) / S.stride));
  }

  // -- decisions ---------------------------------------------------------------------------

  function enqueue(task) {
    S.inflight++;
    S.queue = S.queue.then(task).finally(() => S.inflight--);
    return S.queue;
  }

  function applyLocally(changes) {
    for (const [id, state, reason, saving] of changes) {
      const item = S.items.get(id);
      if (!item) continue;
      S.items.set(id, { ...item, state, reason: state === "rejected" ? reason : null, saving });
      refreshCell(id);
    }
    refreshViewer();
  }

  function applyAnswer(answer) {
    for (const item of answer.items) {
      if (S.posOf.has(item.id) || S.items.has(item.id)) S.items.set(item.id, item);
      refreshCell(item.id);
    }
    refreshViewer();
    refreshCounts();
  }

  function decide(action, ids, reason, label) {
    if (!ids.length) return;
    const state = action === "approve" ? "approved" : "rejected";
    const before = ids.filter((id) => S.items.has(id)).map((id) => {
      const item = S.items.get(id);
      return [id, item.state, item.reason, false];
    });
    applyLocally(ids.map((id) => [id, state, reason || "manual", true]));
    const what = label || (ids.length === 1 ? ids[0] : `${ids.length} pictures`);
    enqueue(async () => {
      try {
        const answer = await postDecision({ action, ids, reason });
        applyAnswer(answer);
        if (answer.previous.length) {
          S.undo.push({ label: `${action === "approve" ? "approve" : "reject"} ${what}`, previous: answer.previous });
        }
        undoButton.disabled = !S.undo.length;
        const unknown = answer.unknown.length ? ` (${answer.unknown.length} no longer in the catalog)` : "";
        say(`${action === "approve" ? "Approved" : "Rejected"} ${what}${unknown}. u undoes.`);
      } catch (error) {
        applyLocally(before);
        say(`Not saved: ${error.message}`, true);
      }
    });
  }

  function undo() {
    // Back to the picture undone, as the key is pressed (never later: a jump after the
    // answer would land between the user's next keys); while saving, the focus stays.
    const last = S.undo[S.undo.length - 1];
    if (last && !S.inflight && !viewer.open) {
      const p = S.posOf.get(last.previous[0].id);
      if (p !== undefined) setFocus(p);
    }
    enqueue(async () => {
      const entry = S.undo.pop();
      undoButton.disabled = !S.undo.length;
      if (!entry) {
        say("Nothing to undo.");
        return;
      }
      applyLocally(entry.previous.map((p) => [p.id, p.state, p.reason, true]));
      try {
        const answer = await postDecision({ action: "restore", items: entry.previous });
        applyAnswer(answer);
        say(`Undid: ${entry.label}.`);
      } catch (error) {
        S.undo.push(entry);
        undoButton.disabled = false;
        say(`Could not undo: ${error.message}`, true);
      }
    });
  }

  function approve() {
    const ids = targets();
    decide("approve", ids);
    advance(ids);
  }

  async function reject() {
    const ids = targets();
    if (!ids.length) return;
    const reason = await askReason(ids.length === 1 ? ids[0] : `${ids.length} pictures`);
    if (reason === null) return;
    decide("reject", ids, reason);
    advance(ids);
  }

  function advance(ids) {
    if (advanceBox.checked && ids.length === 1 && !S.selected.size) {
      if (viewer.open) showInViewer(S.focus + 1);
      else setFocus(S.focus + 1);
    }
  }

  function rejectDuplicates() {
    if (S.view !== "dupes" || !S.groupOf) {
      say("d works in the Duplicates view (press 5 to open it).");
      return;
    }
    if (!S.ids.length) return;
    const keep = S.ids[S.focus];
    const group = S.groupOf[S.focus];
    const others = [];
    S.ids.forEach((id, p) => {
      if (S.groupOf[p] === group && id !== keep && S.items.get(id).state !== "rejected") others.push(id);
    });
    if (!others.length) {
      say(`The rest of ${keep}'s group is rejected already.`);
      return;
    }
    const label = others.length === 1 ? others[0] : `${others.length} pictures`;
    decide("reject", others, `duplicate of ${keep}`, `${label} as duplicates of ${keep}`);
  }

  function askReason(what) {
    return new Promise((resolve) => {
      reasonDialog.querySelector(".what").textContent = what;
      reasonInput.value = "";
      reasonDialog.returnValue = "";
      reasonDialog.addEventListener(
        "close",
        () => {
          const value = reasonDialog.returnValue === "reject" ? reasonInput.value.trim() : null;
          if (value) rememberReason(value);
          restoreFocus();
          resolve(value === null ? null : value || "manual");
        },
        { once: true },
      );
      reasonDialog.showModal();
      reasonInput.focus();
    });
  }

  function rememberReason(reason) {
    let recent = [];
    try {
      recent = JSON.parse(localStorage.getItem("cvgallery-review-reasons") || "[]");
    } catch (_) {
      recent = [];
    }
    recent = [reason, ...recent.filter((r) => r !== reason)].slice(0, 12);
    localStorage.setItem("cvgallery-review-reasons", JSON.stringify(recent));
    fillReasons(recent);
  }

  function fillReasons(recent) {
    const list = $("#reasons");
    list.replaceChildren(...recent.map((r) => new Option(r, r)));
  }

  function restoreFocus() {
    if (viewer.open) return;
    const cell = cellAt(S.focus);
    if (cell) cell.focus({ preventScroll: true });
  }

  // -- the large view ----------------------------------------------------------------------

  function openViewer() {
    if (!S.ids.length) return;
    viewer.showModal();
    viewer.focus(); // not its first button: Enter would press it
    showInViewer(S.focus);
  }

  function showInViewer(p) {
    if (p < 0 || p >= S.ids.length) return;
    setFocus(p);
    S.viewerPos = p;
    const id = S.ids[p];
    // the thumbnail (cached already) first, the large picture once it is decoded
    viewerImg.src = `/_review/thumb/${encodeURIComponent(id)}`;
    sizeViewerImage();
    const large = new Image();
    large.src = `/_review/large/${encodeURIComponent(id)}`;
    large.decode().then(
      () => {
        if (S.viewerPos === p && viewer.open) viewerImg.src = large.src;
      },
      () => {},
    );
    for (const q of [p + 1, p - 1]) {
      if (q >= 0 && q < S.ids.length) new Image().src = `/_review/large/${encodeURIComponent(S.ids[q])}`;
    }
    refreshViewer();
  }

  /** The picture as large as the large copy will be (1600 px at most), never larger than
   * the screen: the thumbnail shown meanwhile takes the same place, nothing jumps. */
  function sizeViewerImage() {
    const item = S.items.get(S.ids[S.viewerPos]);
    const stage = viewer.querySelector(".stage");
    const w = (item && item.width) || 1600;
    const h = (item && item.height) || 1200;
    const fit = Math.min(1, 1600 / Math.max(w, h), (stage.clientWidth - 16) / w, (stage.clientHeight - 16) / h);
    viewerImg.style.width = `${Math.max(1, Math.floor(w * fit))}px`;
    viewerImg.style.height = `${Math.max(1, Math.floor(h * fit))}px`;
  }

  function refreshViewer() {
    if (!viewer.open || S.viewerPos < 0) return;
    const id = S.ids[S.viewerPos];
    const item = S.items.get(id);
    viewer.dataset.id = id;
    viewerImg.alt = `Picture ${id}`;
    const info = viewer.querySelector(".info");
    info.replaceChildren();
    const name = document.createElement("strong");
    name.textContent = id;
    info.append(name, ` (${S.viewerPos + 1} of ${S.ids.length})`);
    if (item) {
      const state = document.createElement("span");
      state.className = item.state;
      state.textContent = ` · ${STATE_LABEL[item.state]}${item.reason ? `: ${item.reason}` : ""}`;
      const dims = item.width && item.height ? ` · ${item.width}×${item.height}` : "";
      info.append(state, ` · ${item.user || "no user"} · ${megabytes(item.size)}${dims}`);
      viewer.className = `viewer state-${item.state}`;
    }
  }

  viewer.addEventListener("close", () => {
    S.viewerPos = -1;
    restoreFocus();
  });

  // -- keys --------------------------------------------------------------------------------

  function onKey(event) {
    if (event.defaultPrevented || event.altKey) return;
    if (reasonDialog.open) return; // its form: Enter confirms, Esc cancels
    if (helpDialog.open) {
      if (event.key === "?") {
        helpDialog.close();
        event.preventDefault();
      }
      return; // Esc closes it natively
    }
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, select, textarea")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    const how = { extend: event.shiftKey };
    const onControl =
      target instanceof HTMLElement && !!target.closest("button, a") && !target.classList.contains("cell");
    if (viewer.open) return viewerKey(event, key, ctrl);
    let handled = true;
    if (ctrl) {
      if (key === "a") selectAll();
      else if (key === "z") undo();
      else handled = false;
    } else {
      switch (key) {
        case "ArrowLeft": case "h": moveInRow(-1, how); break;
        case "ArrowRight": case "l": moveInRow(1, how); break;
        case "ArrowUp": case "k": moveRows(-1, how); break;
        case "ArrowDown": case "j": moveRows(1, how); break;
        case "Home": setFocus(0, how); break;
        case "End": setFocus(S.ids.length - 1, how); break;
        case "PageUp": moveRows(-screenRows(), how); break;
        case "PageDown": moveRows(screenRows(), how); break;
        case "a": approve(); break;
        case "r": reject(); break;
        case "u": undo(); break;
        case "d": rejectDuplicates(); break;
        case "?": helpDialog.showModal(); break;
        case "Escape": clearSelection(); focusCell(); updateSelectionNote(); break;
        case "Enter": if (onControl) handled = false; else openViewer(); break;
        case " ": if (onControl) handled = false; else toggleFocused(); break;
        default:
          if (/^[1-5]$/.test(key) && !event.shiftKey) switchView(VIEWS[Number(key) - 1]);
          else handled = false;
      }
    }
    if (handled) event.preventDefault();
  }

  function viewerKey(event, key, ctrl) {
    let handled = true;
    if (ctrl && key === "z") undo();
    else if (ctrl) handled = false;
    else if (key === "ArrowLeft" || key === "h") showInViewer(S.viewerPos - 1);
    else if (key === "ArrowRight" || key === "l") showInViewer(S.viewerPos + 1);
    else if (key === "a") approve();
    else if (key === "r") reject();
    else if (key === "u") undo();
    else if (key === "d") rejectDuplicates();
    else if (key === "?") helpDialog.showModal();
    else if (key === "Enter" && !(event.target instanceof HTMLButtonElement)) viewer.close();
    else handled = false; // Esc closes the dialog natively
    if (handled) event.preventDefault();
  }

  function toggleFocused() {
    const id = S.ids[S.focus];
    if (id === undefined) return;
    markSelected(id, !S.selected.has(id));
    S.anchor = S.focus;
    updateSelectionNote();
  }

  function selectAll() {
    for (const id of S.ids) S.selected.add(id);
    for (const row of S.rendered.values()) {
      for (const cell of row.querySelectorAll(".cell")) {
        cell.classList.add("selected");
        cell.setAttribute("aria-selected", "true");
      }
    }
    updateSelectionNote();
  }

  function switchView(view) {
    if (!VIEWS.includes(view) || view === S.view) return;
    S.view = view;
    loadView();
  }

  // -- the mouse ---------------------------------------------------------------------------

  grid.addEventListener("click", (event) => {
    const cell = event.target.closest(".cell");
    if (!cell || event.target.closest("a")) return;
    const p = Number(cell.dataset.pos);
    const button = event.target.closest("button");
    if (button) {
      // a button of a selected picture acts on the selection, else on its own picture
      if (!S.selected.has(cell.dataset.id)) setFocus(p);
      else setFocus(p, { keep: true });
      if (button.dataset.act === "approve") approve();
      else if (button.dataset.act === "reject") reject();
      else openViewer();
      return;
    }
    if (event.shiftKey) {
      setFocus(p, { extend: true });
    } else if (event.ctrlKey || event.metaKey) {
      if (!S.selected.size && S.ids.length) markSelected(S.ids[S.focus], true);
      setFocus(p, { keep: true });
      markSelected(cell.dataset.id, !S.selected.has(cell.dataset.id));
      S.anchor = p;
      updateSelectionNote();
    } else {
      setFocus(p);
    }
  });

  grid.addEventListener("dblclick", (event) => {
    const cell = event.target.closest(".cell");
    if (cell && !event.target.closest("button, a")) openViewer();
  });

  for (const button of document.querySelectorAll(".views button")) {
    button.addEventListener("click", () => switchView(button.dataset.view));
  }
  userSelect.addEventListener("change", () => {
    S.user = userSelect.value;
    loadView();
  });
  $("#approve").addEventListener("click", approve);
  $("#reject").addEventListener("click", reject);
  undoButton.addEventListener("click", undo);
  $("#help-button").addEventListener("click", () => helpDialog.showModal());
  helpDialog.addEventListener("close", restoreFocus);
  viewer.querySelector(".prev").addEventListener("click", () => showInViewer(S.viewerPos - 1));
  viewer.querySelector(".next").addEventListener("click", () => showInViewer(S.viewerPos + 1));
  viewer.querySelector(".close").addEventListener("click", () => viewer.close());
  viewer.querySelector(".approve").addEventListener("click", approve);
  viewer.querySelector(".reject").addEventListener("click", reject);
  advanceBox.addEventListener("change", () => {
    localStorage.setItem("cvgallery-review-advance", advanceBox.checked ? "1" : "");
  });

  document.addEventListener("keydown", onKey);
  let scheduled = false;
  window.addEventListener(
    "scroll",
    () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        render();
      });
    },
    { passive: true },
  );
  let lastWidth = grid.clientWidth;
  window.addEventListener("resize", () => {
    if (viewer.open) sizeViewerImage();
    if (grid.clientWidth === lastWidth) return render();
    lastWidth = grid.clientWidth;
    const focus = S.focus;
    layout();
    setFocus(focus, { keep: true });
  });

  // -- start -------------------------------------------------------------------------------

  const wanted = new URLSearchParams(location.hash.slice(1));
  if (VIEWS.includes(wanted.get("view"))) S.view = wanted.get("view");
  if (wanted.get("user")) {
    S.user = wanted.get("user");
    userSelect.add(new Option(S.user, S.user));
    userSelect.value = S.user;
  }
  advanceBox.checked = localStorage.getItem("cvgallery-review-advance") === "1";
  try {
    fillReasons(JSON.parse(localStorage.getItem("cvgallery-review-reasons") || "[]"));
  } catch (_) {
    /* no remembered reasons */
  }
  // for tests and the curious: the state, and how many decisions are still being saved
  window.cvgalleryReview = { state: S, busy: () => S.inflight > 0 };
  loadView();
})();
