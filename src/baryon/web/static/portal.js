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

  // Only what changed is touched (live_refresh.js), so the element with keyboard focus, a
  // field being typed in, a <details> the reader opened and the scroll of the page and of a
  // log all stay as they were.
  function swap(region, html) {
    var focus = window.BaryonLiveRefresh.morph(region, html);
    var words = region.getAttribute("data-announce");
    if (focus === "lost") {
      // Said out loud: a screen-reader user otherwise hears nothing about where they are now.
      words = (words ? words + ". " : "") + "The item you were on is gone; you are at the start of the updated section.";
    }
    announce(words);
    return region;
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
