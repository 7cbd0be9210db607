// The HTML report's one script (sorting, filtering, expanding rows, plot clicks): inlined into each
// report.html by tagscan.outputs.html.page, which allows it by its hash in the Content-Security-Policy.
(function () {
  "use strict";
  var table = document.getElementById("findings-table");
  if (!table) { return; }
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function bodies() { return Array.prototype.slice.call(table.tBodies); }

  function key(body, idx, numeric) {
    var cell = body.rows[0].cells[idx];
    var v = cell.getAttribute("data-v");
    if (!numeric) { return (v === null ? cell.textContent : v); }
    if (v === null || v === "") { return null; }
    var x = Number(v);
    return isNaN(x) ? null : x;
  }

  function sortBy(idx, dir) {
    var numeric = heads[idx].getAttribute("data-type") === "num";
    var sign = dir === "ascending" ? 1 : -1;
    var items = bodies().map(function (b) {
      return { b: b, v: key(b, idx, numeric), r: Number(b.getAttribute("data-rank")) };
    });
    items.sort(function (p, q) {
      if (p.v === null || q.v === null) {
        if (p.v === q.v) { return p.r - q.r; }
        return p.v === null ? 1 : -1;  // missing values last in either direction
      }
      var c = numeric ? (p.v < q.v ? -1 : (p.v > q.v ? 1 : 0)) : p.v.localeCompare(q.v);
      return c !== 0 ? sign * c : p.r - q.r;
    });
    var frag = document.createDocumentFragment();
    items.forEach(function (it) { frag.appendChild(it.b); });
    table.appendChild(frag);
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    heads[idx].setAttribute("aria-sort", dir);
  }

  heads.forEach(function (th, idx) {
    var btn = th.querySelector("button.sort");
    if (!btn) { return; }
    btn.addEventListener("click", function () {
      var cur = th.getAttribute("aria-sort");
      var first = th.getAttribute("data-type") === "num" && th.getAttribute("data-key") !== "rank"
        ? "descending" : "ascending";
      var dir = cur ? (cur === "descending" ? "ascending" : "descending") : first;
      sortBy(idx, dir);
    });
  });

  function setOpen(body, open) {
    var row = body.rows[0], detail = body.rows[1];
    if (!detail) { return; }
    detail.hidden = !open;
    row.setAttribute("aria-expanded", open ? "true" : "false");
  }

  table.addEventListener("click", function (ev) {
    var row = ev.target.closest("tr.row");
    if (!row || !table.contains(row)) { return; }
    if (window.getSelection && String(window.getSelection()).length > 0) { return; }
    setOpen(row.parentNode, row.getAttribute("aria-expanded") !== "true");
  });

  var filter = document.getElementById("filter");
  var levelBoxes = Array.prototype.slice.call(document.querySelectorAll("input.lvl-filter"));
  var counter = document.getElementById("shown-count");
  function applyFilter() {
    var text = (filter && filter.value || "").trim().toLowerCase();
    var levels = {};
    levelBoxes.forEach(function (b) { levels[b.value] = b.checked; });
    var n = 0;
    bodies().forEach(function (b) {
      var lvl = b.getAttribute("data-level");
      var okLevel = !(lvl in levels) || levels[lvl];
      var ok = okLevel && (!text || b.getAttribute("data-search").indexOf(text) !== -1);
      b.hidden = !ok;
      if (ok) { n += 1; }
    });
    if (counter) { counter.textContent = n.toLocaleString() + " shown"; }
  }
  if (filter) { filter.addEventListener("input", applyFilter); }
  levelBoxes.forEach(function (b) { b.addEventListener("change", applyFilter); });

  function all(open) { bodies().forEach(function (b) { if (!b.hidden) { setOpen(b, open); } }); }
  var ea = document.getElementById("expand-all"), ca = document.getElementById("collapse-all");
  if (ea) { ea.addEventListener("click", function () { all(true); }); }
  if (ca) { ca.addEventListener("click", function () { all(false); }); }

  function openFinding(rank) {
    var body = document.getElementById("f-" + rank);
    if (!body) { return; }
    if (body.hidden) {
      if (filter) { filter.value = ""; }
      levelBoxes.forEach(function (b) { b.checked = true; });
      applyFilter();
    }
    setOpen(body, true);
    body.scrollIntoView({ block: "center", behavior: "smooth" });
    body.classList.remove("flash");
    void body.offsetWidth;
    body.classList.add("flash");
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-open]"), function (el) {
    var rank = el.getAttribute("data-open");
    el.addEventListener("click", function () { openFinding(rank); });
    el.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openFinding(rank); }
    });
  });
})();
