// Baryon portal: the little the pages need from JavaScript, and nothing they cannot do without.
//
// A region marked data-live="URL" data-active="true" is re-fetched from URL every two seconds
// and swapped in place while it says it is active (something is deploying). The fragment it
// receives is the same region rendered again; once that says data-active="false", polling
// stops. Without JavaScript the pages still work: reload them.
"use strict";

(function () {
  var PERIOD_MS = 2000;

  function announce(text) {
    var announcer = document.getElementById("live-announcer");
    if (announcer && text && announcer.textContent !== text) {
      announcer.textContent = text;
    }
  }

  function swap(region, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.firstElementChild;
    if (!fresh || fresh.id !== region.id) {
      return region;
    }
    if (fresh.outerHTML === region.outerHTML) {
      return region;
    }
    // Keep the keyboard where it was: refocus the element with the same id, if any.
    var focused = document.activeElement;
    var focusedId = focused && region.contains(focused) ? focused.id : "";
    var openDetails = Array.prototype.map.call(region.querySelectorAll("details[open]"),
      function (d) { return d.querySelector("summary").textContent; });
    region.replaceWith(fresh);
    Array.prototype.forEach.call(fresh.querySelectorAll("details"), function (d) {
      var summary = d.querySelector("summary");
      if (summary && openDetails.indexOf(summary.textContent) !== -1) { d.open = true; }
    });
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) { again.focus(); }
    }
    announce(fresh.getAttribute("data-announce"));
    return fresh;
  }

  function poll(region) {
    if (region.getAttribute("data-active") !== "true" || !region.getAttribute("data-live")) {
      return;
    }
    window.setTimeout(function () {
      fetch(region.getAttribute("data-live"), {
        credentials: "same-origin",
        headers: { "Accept": "text/html" },
        cache: "no-store"
      }).then(function (response) {
        if (response.status === 401) {
          window.location.reload(); // the session ended: the page takes us to sign-in
          return null;
        }
        return response.ok ? response.text() : "";
      }).then(function (html) {
        poll(html ? swap(region, html) : region);
      }).catch(function () {
        poll(region); // the server restarts or the network blinks: try again later
      });
    }, PERIOD_MS);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), poll);
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
