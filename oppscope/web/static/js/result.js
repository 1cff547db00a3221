// The result page: sortable tables, the print button, a busy rerun button, and the end of a submitted draft.
(function () {
  "use strict";

  // The analyze form stored a draft and marked it pending; arriving here means the analysis was saved.
  try {
    if (sessionStorage.getItem("oppscope:pending")) {
      localStorage.removeItem("oppscope:draft");
      sessionStorage.removeItem("oppscope:pending");
    }
  } catch (e) {
    // storage disabled: there is no draft either
  }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });

  document.querySelectorAll("[data-busy-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      button.textContent = "Running…";
    });
  });

  // Sort on the header's column; numbers by their data-value, text by its words, the same column twice flips it.
  function key(row, index, numeric) {
    var cell = row.cells[index];
    return numeric ? parseFloat(cell.dataset.value) : cell.textContent.trim().toLowerCase();
  }

  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, index) {
      var button = th.querySelector("button.sort");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var numeric = button.dataset.sort === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a, index, numeric);
          var y = key(b, index, numeric);
          var order = numeric ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
        });
        headers.forEach(function (other) {
          if (other.hasAttribute("aria-sort")) other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  });
})();
