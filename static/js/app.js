// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // "/" jumps to the search box, unless the person is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    var search = document.getElementById("q");
    if (!search) return;
    event.preventDefault();
    search.focus();
    search.select();
  });

  // Filters start folded on narrow screens so the results are in view; a person's own
  // choice to open or fold them survives the swaps that re-render the sidebar.
  var narrow = window.matchMedia("(max-width: 859px)");
  var filtersOpen = null;
  function applyFiltersState() {
    var filters = document.getElementById("filters");
    if (!filters) return;
    filters.open = filtersOpen === null ? !narrow.matches : filtersOpen;
  }
  document.addEventListener("toggle", function (event) {
    if (event.target.id === "filters") filtersOpen = event.target.open;
  }, true);
  document.addEventListener("DOMContentLoaded", applyFiltersState);
  document.addEventListener("htmx:afterSwap", applyFiltersState);
  document.addEventListener("htmx:historyRestore", applyFiltersState);

  function results() {
    return document.getElementById("browse-results");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (results() && event.detail.target === results()) results().setAttribute("aria-busy", "true");
  });

  document.addEventListener("htmx:afterRequest", function () {
    if (results()) results().removeAttribute("aria-busy");
  });

  // After a link inside the results (a page number, a removed filter) replaced them, the link
  // is gone: move focus to the results heading so keyboard users continue from the new list.
  document.addEventListener("htmx:afterSettle", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!source || source.tagName !== "A" || event.detail.target !== results()) return;
    // The search box and selects sit outside the swapped region: a link that changed the search
    // (a removed "Search" chip) must not leave the old words there to come back with the next filter.
    syncControls();
    var heading = document.getElementById("results-heading");
    if (heading) {
      heading.focus({ preventScroll: true });
      heading.scrollIntoView({ block: "start" });
    }
  });

  // The history's "Older" / "Newer" / "Try again" links replace themselves when they load
  // another page of commits: unless the person has moved on, put focus on the history's
  // heading (not <body>), so Tab continues with the new commits.
  document.addEventListener("htmx:afterSettle", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var region = document.getElementById("commit-history");
    if (!source || source.tagName !== "A" || !region || !region.contains(event.target)) return;
    var active = document.activeElement;
    if (active && active !== document.body && !region.contains(active)) return;
    var heading = document.getElementById("commits-heading");
    if (heading && active !== heading) {
      heading.focus({ preventScroll: true });
      heading.scrollIntoView({ block: "start" });
    }
  });

  // A follow button's form replaces itself (outerHTML); htmx keeps focus only on an element
  // with an id, so focus would fall to <body>. When it was on the old form, put it on the new
  // button, so Enter or Space again undoes the follow and Tab continues from the same place.
  var followFocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.elt;
    var active = document.activeElement;
    followFocus =
      form && form.matches && form.matches(".follow-form, .select-form") && form.contains(active)
        ? form.getAttribute("action")
        : null;
  });
  // After settling, not swapping: htmx only handles the new form's submit once it has settled.
  document.addEventListener("htmx:afterSettle", function (event) {
    var form = event.target;
    if (!followFocus || !form.matches || !form.matches(".follow-form, .select-form")) return;
    if (form.getAttribute("action") !== followFocus) return;
    followFocus = null;
    var active = document.activeElement;
    var button = form.querySelector("button");
    if (button && (!active || active === document.body)) button.focus();
  });

  // A copy button for code shown in a read-only textarea (which works without this, too).
  function revealCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = !navigator.clipboard;
    });
  }
  revealCopyButtons();
  document.addEventListener("htmx:afterSettle", revealCopyButtons);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.value).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy the code"; }, 2000);
    }, function () {
      source.focus();
      source.select();
    });
  });

  // htmx restores the page's markup on Back/Forward, but typed values live outside the markup:
  // put the controls back in step with the address bar.
  document.addEventListener("htmx:historyRestore", syncControls);

  // Sorting follows the search (best match while searching, most downloaded otherwise) until
  // the person picks a sort themselves, as the server does when the URL names none.
  var sortChosen = new URLSearchParams(window.location.search).has("sort");
  function defaultSort(query) {
    return query.trim() ? "relevance" : "downloads";
  }
  document.addEventListener("input", function (event) {
    var sort = document.getElementById("sort");
    if (event.target.id === "q" && sort && !sortChosen) sort.value = defaultSort(event.target.value);
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "sort") sortChosen = true;
  });

  // Leave defaults out of the URLs htmx requests and pushes, so they stay short and match
  // the server's own links.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "browse-form") return;
    var params = event.detail.parameters;
    var query = params.get("q") || "";
    if (!query.trim()) params.delete("q");
    if (params.get("sort") === defaultSort(query)) params.delete("sort");
    if (params.get("per_page") === "20") params.delete("per_page");
    if (!params.get("mode")) params.delete("mode");
  });

  function syncControls() {
    var form = document.getElementById("browse-form");
    if (!form) return;
    var params = new URLSearchParams(window.location.search);
    sortChosen = params.has("sort");
    var search = document.getElementById("q");
    if (search) search.value = params.get("q") || "";
    // Defaults as the server applies them when a parameter is absent.
    var defaults = { sort: params.get("q") ? "relevance" : "downloads", per_page: "20" };
    Object.keys(defaults).forEach(function (name) {
      var select = document.getElementById(name);
      if (select) select.value = params.get(name) || defaults[name];
    });
  }
})();
