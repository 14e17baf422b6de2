// Baryon portal: updates a live region in place from a freshly rendered copy of it.
//
// Replacing the region's HTML would throw away what the reader is doing: keyboard focus (a
// screen reader starts again from the top), a value being typed, a <details> they opened, how
// far they scrolled a log. So the old and new trees are walked together and only what differs
// is changed. Children are paired by id, and otherwise by kind (tag) in order. The element
// holding focus and its ancestors are never moved, replaced or re-created: moving a node in
// the DOM takes focus away from it.
"use strict";

(function () {
  var ELEMENT = 1;

  // Attributes the reader owns once the page is shown: the server's copy does not say
  // whether the reader opened a <details>. (Values typed or chosen are kept by readerState.)
  var READER_OWNED = { DETAILS: ["open"] };

  function keyOf(node) {
    if (node.nodeType !== ELEMENT) {
      return "#" + node.nodeType;
    }
    // An <input> that changes type is a different control; pairing them would carry a
    // typed value into, say, a checkbox.
    var type = node.tagName === "INPUT" ? ":" + (node.getAttribute("type") || "text") : "";
    return node.tagName + type + (node.id ? "#" + node.id : "");
  }

  function updateAttributes(old, fresh) {
    var owned = READER_OWNED[old.tagName] || [];
    Array.prototype.slice.call(old.attributes).forEach(function (attribute) {
      if (!fresh.hasAttribute(attribute.name) && owned.indexOf(attribute.name) < 0) {
        old.removeAttribute(attribute.name);
      }
    });
    Array.prototype.forEach.call(fresh.attributes, function (attribute) {
      if (old.getAttribute(attribute.name) !== attribute.value && owned.indexOf(attribute.name) < 0) {
        old.setAttribute(attribute.name, attribute.value);
      }
    });
  }

  function update(old, fresh, pinned) {
    if (old.nodeType !== ELEMENT) {
      if (old.nodeValue !== fresh.nodeValue) {
        old.nodeValue = fresh.nodeValue;
      }
      return;
    }
    updateAttributes(old, fresh);
    updateChildren(old, fresh, pinned);
  }

  // Pairs each new child with an old one: by id where it has one, else the next old child of
  // the same kind (so a table that gained a row updates the rows in order). Returns the old
  // partner of each new child, or null where the new child has none.
  function pair(oldNodes, newNodes) {
    var byId = {};
    oldNodes.forEach(function (node) {
      if (node.nodeType === ELEMENT && node.id) {
        byId[node.id] = node;
      }
    });
    var used = new Set();
    var next = 0; // old children before this one are paired or passed over
    return newNodes.map(function (node) {
      if (node.nodeType === ELEMENT && node.id) {
        var same = byId[node.id];
        if (same && keyOf(same) === keyOf(node) && !used.has(same)) {
          used.add(same);
          return same;
        }
        return null;
      }
      var key = keyOf(node);
      for (var i = next; i < oldNodes.length; i++) {
        if (!used.has(oldNodes[i]) && keyOf(oldNodes[i]) === key) {
          used.add(oldNodes[i]);
          next = i + 1;
          return oldNodes[i];
        }
      }
      return null;
    });
  }

  function updateChildren(oldParent, freshParent, pinned) {
    var oldNodes = Array.prototype.slice.call(oldParent.childNodes);
    var newNodes = Array.prototype.slice.call(freshParent.childNodes);
    var partners = pair(oldNodes, newNodes);
    var kept = new Set(partners);
    oldNodes.forEach(function (node) {
      if (!kept.has(node)) {
        oldParent.removeChild(node); // if it held focus, focus is really gone: swap() sees to it
      }
    });
    // Lay the children out in the new order. The one on the path to focus stays where it is;
    // the others move round it.
    var cursor = oldParent.firstChild;
    newNodes.forEach(function (fresh, index) {
      var node = partners[index];
      if (node) {
        update(node, fresh, pinned);
      } else {
        node = fresh; // adopted from the parsed copy as it is
      }
      if (node === cursor) {
        cursor = cursor.nextSibling;
      } else if (pinned.has(node)) {
        cursor = node.nextSibling; // those it passes over move after it when their turn comes
      } else {
        oldParent.insertBefore(node, cursor);
      }
    });
  }

  // Fields the reader changed (typed in, ticked, chose from). A field's default (its value
  // attribute) says only what the server had; the reader's own value wins over a new one.
  var touched = new WeakSet();
  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      touched.add(event.target);
    }, true);
  });

  // The reader's scroll in each log, and the values they changed from what the page gave
  // them (or are in the middle of typing), before the update; put back afterwards wherever
  // the element survived.
  function readerState(region) {
    var logs = Array.prototype.map.call(region.querySelectorAll(".log"), function (log) {
      // At (or within a pixel of) the bottom: the reader follows the log as lines arrive.
      var bottom = log.scrollHeight - log.clientHeight - log.scrollTop <= 1;
      return { element: log, top: log.scrollTop, bottom: bottom };
    });
    var edited = [];
    Array.prototype.forEach.call(region.querySelectorAll("input, textarea, select"), function (field) {
      if (touched.has(field) || field === document.activeElement) {
        edited.push({ element: field, value: field.value, checked: field.checked });
      }
    });
    return { logs: logs, edited: edited };
  }

  function restore(state) {
    state.logs.forEach(function (log) {
      var element = log.element;
      if (element.isConnected) {
        element.scrollTop = log.bottom ? element.scrollHeight : log.top;
      }
    });
    state.edited.forEach(function (field) {
      var element = field.element;
      if (!element.isConnected) {
        return;
      }
      if (element.type === "checkbox" || element.type === "radio") {
        element.checked = field.checked;
      } else if (element.value !== field.value) {
        element.value = field.value; // only when it differs: setting it moves the caret
      }
    });
  }

  // Updates region in place to look like html (the region rendered again, its outer element
  // included). Returns what became of the focused element: "kept", "moved" (it had to go and
  // its successor by id took focus), "lost" (focus went to the region) or "none".
  function morph(region, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.firstElementChild;
    if (!fresh || fresh.id !== region.id) {
      return "none";
    }
    if (region.hasAttribute("tabindex") && !fresh.hasAttribute("tabindex")) {
      fresh.setAttribute("tabindex", region.getAttribute("tabindex")); // given below, keep it
    }
    var focused = document.activeElement;
    var inside = focused && focused !== region && region.contains(focused);
    var pinned = new Set();
    for (var node = inside ? focused : null; node && node !== region; node = node.parentNode) {
      pinned.add(node);
    }
    var state = readerState(region);
    update(region, fresh, pinned);
    restore(state);
    if (!inside) {
      return "none";
    }
    if (focused.isConnected) {
      return "kept";
    }
    var successor = focused.id ? document.getElementById(focused.id) : null;
    if (successor && region.contains(successor)) {
      successor.focus({ preventScroll: true });
      return "moved";
    }
    // What the reader was on is gone. The region itself takes focus so that the next Tab
    // goes on from here, not from the top of the page.
    region.setAttribute("tabindex", "-1");
    region.focus({ preventScroll: true });
    return "lost";
  }

  window.BaryonLiveRefresh = { morph: morph };
})();
