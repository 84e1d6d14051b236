// The console's only script, framework-free: countdowns, the agent's time zone at sign-in, and live
// updates (server-sent events) that swap the page's live regions without a reload. Every page works
// without it; it only makes them current.
(function () {
  "use strict";

  function fmt(seconds) {
    var late = seconds < 0, s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var text = d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m " + r + "s";
    return (late ? "overdue by " : "in ") + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      el.textContent = fmt(left);
      el.classList.toggle("late", left < 0);
    });
  }

  function busy(region) {
    // Never throw away what an agent is typing: a region with an edited or focused form stays.
    if (region.contains(document.activeElement) && document.activeElement.matches("input,select,textarea")) return true;
    return !!region.querySelector("form[data-dirty]");
  }

  var pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          doc.querySelectorAll("[data-live-region]").forEach(function (fresh) {
            var current = document.getElementById(fresh.id);
            if (current && !busy(current) && current.innerHTML !== fresh.innerHTML) current.innerHTML = fresh.innerHTML;
          });
          document.body.setAttribute("data-refreshed", String(Date.now()));
          tick();
        })
        .catch(function () {});
    }, 200);
  }

  document.addEventListener("input", function (e) {
    var form = e.target.closest && e.target.closest("form.step");
    if (form) form.setAttribute("data-dirty", "");
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-fill-zone]").forEach(function (el) {
      try { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* server default */ }
    });
    tick();
    setInterval(tick, 1000);
    var url = document.body.getAttribute("data-live");
    if (url && window.EventSource) {
      var source = new EventSource(url);
      source.addEventListener("change", refresh);
      source.addEventListener("open", function () { document.body.setAttribute("data-live-open", "1"); });
    }
  });
})();
