// Baryon portal: the little the pages need from JavaScript, and nothing they cannot do without.
//
// A region marked data-live="URL" data-active="true" is re-fetched from URL every two seconds
// and updated in place while it says it is active (something is deploying). The fragment it
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

  // Only what changed is touched: the fresh fragment is morphed into the region (idiomorph),
  // so the element with keyboard focus, a field being typed in, a <details> the reader opened
  // and the scroll position of the page and of a log all stay as they were.
  var MORPH = {
    morphStyle: "outerHTML",
    ignoreActiveValue: true,
    restoreFocus: true,
    callbacks: {
      beforeAttributeUpdated: function (name, element) {
        return !(name === "open" && element.tagName === "DETAILS");
      }
    }
  };

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
    var logs = Array.prototype.map.call(region.querySelectorAll("[id]"), function (el) {
      return [el.id, el.scrollTop];
    }).filter(function (pair) { return pair[1] > 0; });
    var focused = document.activeElement;
    window.Idiomorph.morph(region, fresh, MORPH);
    var kept = document.getElementById(region.id) || region;
    logs.forEach(function (pair) {
      var el = document.getElementById(pair[0]);
      if (el) { el.scrollTop = pair[1]; }
    });
    if (focused && focused !== document.body && !focused.isConnected && focused.id) {
      var again = document.getElementById(focused.id); // it had to go: focus its successor
      if (again) { again.focus(); }
    }
    announce(kept.getAttribute("data-announce"));
    return kept;
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
