// yunwei console: live updates (Server-Sent Events) and keyboard shortcuts.
// Hand-written, no build step, served from the binary (the CSP allows only same-origin
// scripts, never inline ones). Every string shown comes from the server-rendered page.
(function () {
  "use strict";

  var table = document.getElementById("tickets-table");
  var banner = document.getElementById("live-banner");
  var help = document.getElementById("kbd-help");
  var m = /^\/tickets\/([A-Z]{2,5}-\d{4}-\d{6,})$/.exec(window.location.pathname);
  var watching = m ? m[1] : null;

  // ------------------------------------------------------------------ live updates
  function showBanner() {
    if (banner) {
      banner.hidden = false;
    }
  }

  function onChange(ev) {
    var c;
    try {
      c = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (watching) {
      if (c.number === watching) {
        showBanner();
      }
      return;
    }
    if (table) {
      var row = table.querySelector('tr[data-number="' + c.number + '"]');
      if (row) {
        row.classList.add("reveal");
        row.setAttribute("data-changed", c.action);
      }
      showBanner();
    }
  }

  if ((table && table.hasAttribute("data-live")) || watching) {
    if (window.EventSource) {
      var source = new EventSource("/api/v1/events");
      source.addEventListener("ticket", onChange);
    }
  }

  // ------------------------------------------------------------------ keyboard
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  var current = -1;

  function typing(el) {
    if (!el) {
      return false;
    }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function linkOf(row) {
    return row ? row.querySelector("a[href]") : null;
  }

  function move(delta) {
    if (!rows.length) {
      return;
    }
    current = Math.max(0, Math.min(rows.length - 1, current + delta));
    var a = linkOf(rows[current]);
    if (a) {
      a.focus();
    }
  }

  // Keep the cursor where the focus is (after Tab or a click).
  rows.forEach(function (row, i) {
    row.addEventListener("focusin", function () {
      current = i;
    });
  });

  function toggleHelp(show) {
    if (!help) {
      return;
    }
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) {
      help.setAttribute("tabindex", "-1");
      help.focus();
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) {
      return;
    }
    if (e.key === "Escape") {
      toggleHelp(false);
      return;
    }
    if (typing(e.target)) {
      return;
    }
    switch (e.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "o":
      case "Enter":
        if (current >= 0 && e.key === "o") {
          var a = linkOf(rows[current]);
          if (a) {
            window.location.href = a.href;
          }
        }
        return; // Enter on a focused link opens it natively
      case "x":
        if (current >= 0) {
          var box = rows[current].querySelector('input[type="checkbox"]');
          if (box) {
            box.checked = !box.checked;
          }
        }
        break;
      case "/":
        var q = document.querySelector('input[name="q"]');
        if (q) {
          q.focus();
          q.select();
        }
        break;
      case "?":
        toggleHelp();
        break;
      default:
        return;
    }
    e.preventDefault();
  });
})();
