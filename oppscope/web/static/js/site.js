// Every page: the theme toggle. A choice is stored in localStorage; without one the system theme applies.
(function () {
  "use strict";
  var KEY = "oppscope:theme";
  var root = document.documentElement;
  var system = window.matchMedia("(prefers-color-scheme: dark)");

  function effective() {
    return root.dataset.theme || (system.matches ? "dark" : "light");
  }

  function announce() {
    var dark = effective() === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(dark));
    });
    document.dispatchEvent(new CustomEvent("oppscope:themechange", { detail: { theme: effective() } }));
  }

  document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
    button.addEventListener("click", function () {
      var next = effective() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try {
        localStorage.setItem(KEY, next);
      } catch (e) {
        // not persisted, still applied
      }
      announce();
    });
  });
  system.addEventListener("change", function () {
    if (!root.dataset.theme) announce();
  });
  document.querySelectorAll("[data-js-only]").forEach(function (element) {
    element.hidden = false;
  });
  announce();
})();
