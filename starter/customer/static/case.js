// The customer's case page: times in the device's zone, and a refresh without a reload when the case
// moves (polls status.json; on a new version it fetches the page and swaps the parts that show the
// case, never a form being filled in). Its own requests are GETs; the forms post as plain HTML forms.
(function () {
  "use strict";
  var root = document.getElementById("case");
  if (!root || !window.fetch) return;
  var version = root.getAttribute("data-version");
  var every = (parseInt(root.getAttribute("data-poll"), 10) || 5) * 1000;

  function localTimes(scope) {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) return;
    var format = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZone: zone, timeZoneName: "short"
    });
    var times = scope.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      times[i].textContent = format.format(new Date(times[i].getAttribute("datetime")));
    }
    var note = scope.querySelector("#zone-note");
    if (note) note.textContent = "Times are in your device's time zone (" + zone + ").";
  }

  function inUse(part) {
    if (part.contains(document.activeElement) && document.activeElement !== document.body) return true;
    var fields = part.querySelectorAll("textarea, input[type=radio]");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "radio" ? f.checked !== f.defaultChecked : f.value !== f.defaultValue) return true;
    }
    return false;
  }

  function refresh() {
    return fetch(location.pathname, { cache: "no-store", credentials: "omit" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("case");
        if (!fresh) return;
        // Only the parts that show the case ([data-live]); never a form the customer is using
        var parts = fresh.querySelectorAll("[data-live][id]");
        for (var i = 0; i < parts.length; i++) {
          var old = document.getElementById(parts[i].id);
          if (old && !inUse(old)) old.replaceWith(document.importNode(parts[i], true));
        }
        version = fresh.getAttribute("data-version");
        root.setAttribute("data-version", version);
        localTimes(root);
      });
  }

  function poll() {
    var wait = every;
    if (document.hidden) { setTimeout(poll, wait); return; }
    fetch(root.getAttribute("data-status"), { cache: "no-store", credentials: "omit" })
      .then(function (r) {
        if (r.status === 429) { wait = (parseInt(r.headers.get("Retry-After"), 10) || 30) * 1000; return null; }
        if (!r.ok) { wait = every * 6; return null; }
        return r.json();
      })
      .then(function (data) { if (data && data.version !== version) return refresh(); })
      .catch(function () { wait = every * 3; })
      .then(function () { setTimeout(poll, wait); });
  }

  localTimes(root);
  setTimeout(poll, every);
})();
