// Runs in <head>, before the first paint, so a stored theme choice never flashes the other theme.
(function () {
  "use strict";
  try {
    var stored = localStorage.getItem("oppscope:theme");
    if (stored === "light" || stored === "dark") document.documentElement.dataset.theme = stored;
  } catch (e) {
    // storage can be disabled; the system theme then applies
  }
})();
