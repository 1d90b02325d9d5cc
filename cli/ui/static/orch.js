// orch ui's live part: the run page follows /runs/ID/events (SSE) and the step page tails a running log.
// Every page works without it; it only keeps what is shown current without a reload.
(function () {
  "use strict";
  var body = document.body;
  var ENDED = { succeeded: 1, failed: 1, interrupted: 1 };

  function setState(el, state) {
    if (!el || el.getAttribute("data-state") === state) return;
    el.setAttribute("data-state", state);
    var label = el.querySelector("text.state");
    if (label) label.textContent = state;
    if (el.classList.contains("badge")) el.textContent = state;
  }

  function byStep(selector) {
    var found = {};
    document.querySelectorAll(selector).forEach(function (el) {
      var name = el.getAttribute("data-step") || el.getAttribute("data-group");
      (found[name] = found[name] || []).push(el);
    });
    return found;
  }

  // the parts of the page the state changes (errors, timeline, steps table, buttons), fetched anew
  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.pathname, { headers: { Accept: "text/html" } }).then(function (r) { return r.text(); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      ["errors", "timeline", "steps", "actions", "took"].forEach(function (id) {
        var now = document.getElementById(id), next = fresh.getElementById(id);
        if (now && next) now.replaceWith(document.importNode(next, true));
        else if (!now && next && id === "actions") {
          var head = document.querySelector(".run-head");
          if (head) head.appendChild(document.importNode(next, true));
        }
      });
      var graph = fresh.getElementById("graph"), mine = document.getElementById("graph");
      if (graph && mine) {  // attempts counts under the names
        var labels = byStep("#graph .node");
        fresh.querySelectorAll("#graph .node").forEach(function (node) {
          (labels[node.getAttribute("data-step")] || []).forEach(function (el) {
            setState(el, node.getAttribute("data-state"));
            var a = el.querySelector("text.state"), b = node.querySelector("text.state");
            if (a && b) a.textContent = b.textContent;
          });
        });
      }
    }).catch(function () {}).then(function () {
      refreshing = false;
      if (again) { again = false; setTimeout(refresh, 300); }
    });
  }

  function followRun(runId) {
    if (!window.EventSource) return;
    var source = new EventSource("/runs/" + encodeURIComponent(runId) + "/events");
    var seen = null;
    source.addEventListener("state", function (event) {
      var state = JSON.parse(event.data);
      var changed = seen !== null && event.data !== seen;
      seen = event.data;
      body.setAttribute("data-run-status", state.run);
      document.querySelectorAll(".run-status").forEach(function (el) { setState(el, state.run); });
      document.title = document.title.replace(/ · [a-z_]+ · orch$/, " · " + state.run + " · orch");
      var nodes = byStep("#graph .node, #graph .cluster");
      var rows = byStep("#steps tr[data-step]");
      Object.keys(state.steps).forEach(function (name) {
        (nodes[name] || []).forEach(function (el) { setState(el, state.steps[name]); });
        (rows[name] || []).forEach(function (row) { setState(row.querySelector(".badge"), state.steps[name]); });
      });
      if (changed || ENDED[state.run]) refresh();
      if (ENDED[state.run]) { source.close(); clearInterval(ticking); }
    });
    var ticking = setInterval(refresh, 2000);  // the timeline's running bars grow
  }

  function tailLog(pre) {
    var src = pre.getAttribute("data-src"), offset = parseInt(pre.getAttribute("data-offset") || "0", 10);
    var decoder = new TextDecoder("utf-8");
    function poll() {
      fetch(src + "&offset=" + offset, { cache: "no-store" }).then(function (r) {
        var status = r.headers.get("X-Orch-Attempt-Status");
        return r.arrayBuffer().then(function (bytes) {
          if (bytes.byteLength) {
            var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            pre.appendChild(document.createTextNode(decoder.decode(bytes, { stream: true })));
            offset += bytes.byteLength;
            pre.setAttribute("data-offset", String(offset));
            if (atEnd) pre.scrollTop = pre.scrollHeight;
          }
          pre.setAttribute("data-status", status || "");
          if (status === "running" && bytes.byteLength < (1 << 20)) setTimeout(poll, 500);
          else if (status === "running") poll();
          else location.reload();  // the attempt ended: its row, outputs and artifacts as recorded
        });
      }).catch(function () { setTimeout(poll, 2000); });
    }
    setTimeout(poll, 300);
  }

  // the runs page, while a run on it is running: the table again every 3 s (its filters are in the URL)
  function followRuns() {
    if (!document.querySelector('#runs tr.run[data-status="running"]')) return;
    setTimeout(function () {
      fetch(location.href, { cache: "no-store" }).then(function (r) { return r.text(); }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["runs", "pager"].forEach(function (id) {
          var now = document.getElementById(id), next = fresh.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        followRuns();
      }).catch(function () {});
    }, 3000);
  }

  var runId = body.getAttribute("data-run-id");
  if (document.getElementById("runs")) followRuns();
  if (runId && body.hasAttribute("data-live") && !ENDED[body.getAttribute("data-run-status")]) followRun(runId);
  var log = document.getElementById("log");
  if (log && log.hasAttribute("data-live")) tailLog(log);
  else if (body.hasAttribute("data-step") && body.getAttribute("data-run-status") === "running" &&
           /^(pending|running)$/.test(body.getAttribute("data-state") || "")) {
    setTimeout(function () { location.reload(); }, 2000);  // not started here yet: look again soon
  }
})();
