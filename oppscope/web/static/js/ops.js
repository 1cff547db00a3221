// The /ops charts: one line chart per panel (a value per minute of the window) and the stages' p95 as bars,
// drawn with the vendored Chart.js from /ops/data. Colours come from the stylesheet's --chart-* and status
// variables, so the charts follow the theme and are redrawn when it changes.
(function () {
  "use strict";
  var section = document.querySelector("[data-ops-source]");
  if (!section || typeof Chart === "undefined") return;
  var status = section.querySelector("[data-chart-status]");
  var charts = [];
  var data = null;

  function palette() {
    var probe = document.createElement("span");
    probe.hidden = true;
    document.body.appendChild(probe);
    var out = {};
    [["line", "--chart-line"], ["point", "--chart-point"], ["bar", "--chart-bar"], ["text", "--chart-text"],
     ["grid", "--chart-grid"], ["bad", "--bad"], ["warn", "--warn"], ["good", "--good"]].forEach(function (pair) {
      probe.style.color = "var(" + pair[1] + ")";
      out[pair[0]] = getComputedStyle(probe).color;
    });
    probe.remove();
    return out;
  }

  function formatter(unit) {
    if (unit === "percentunit") return function (v) { return (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%"; };
    if (unit === "s") return function (v) { return v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(1) + " s"; };
    return function (v) { return String(Math.round(v * 10) / 10); };
  }

  function lineChart(canvas, panel, c) {
    var colours = [c.line, c.point, c.bad, c.warn, c.good];
    var format = formatter(panel.unit);
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: data.charts.labels,
        datasets: panel.series.map(function (s, i) {
          return {
            label: s.label, data: s.values, borderColor: colours[i % colours.length],
            backgroundColor: colours[i % colours.length], borderWidth: 2, spanGaps: false,
            pointRadius: data.charts.labels.length > 120 ? 0 : 2  // a lone minute stays visible
          };
        })
      },
      options: {
        scales: {
          x: { grid: { display: false }, ticks: { color: c.text, maxTicksLimit: 8, maxRotation: 0 } },
          y: { beginAtZero: true, grid: { color: c.grid }, ticks: { color: c.text, callback: format } }
        },
        plugins: {
          legend: { position: "bottom", labels: { color: c.text, boxHeight: 8 } },
          tooltip: {
            callbacks: {
              label: function (item) { return item.dataset.label + ": " + (item.raw === null ? "–" : format(item.raw)); }
            }
          }
        }
      }
    });
  }

  function stageChart(canvas, c) {
    var stages = data.charts.stages;
    var format = formatter("s");
    return new Chart(canvas, {
      type: "bar",
      data: { labels: stages.labels, datasets: [{ label: "p95", data: stages.values, backgroundColor: c.bar }] },
      options: {
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, grid: { color: c.grid }, ticks: { color: c.text, callback: format } },
          y: { grid: { display: false }, ticks: { color: c.text } }
        },
        plugins: { legend: { display: false } }
      }
    });
  }

  function draw() {
    if (!data) return;
    charts.forEach(function (chart) { chart.destroy(); });
    var c = palette();
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.animation = false;
    charts = [];
    data.charts.panels.forEach(function (panel) {
      var canvas = document.getElementById("chart-" + panel.key);
      if (canvas) charts.push(lineChart(canvas, panel, c));
    });
    var stages = document.getElementById("chart-stages");
    if (stages && data.charts.stages.labels.length) charts.push(stageChart(stages, c));
    section.dataset.chartsDrawn = String(charts.length);
  }

  function fail(message) {
    status.textContent = message;
    status.hidden = false;
  }

  fetch(section.dataset.opsSource, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("The chart data answered HTTP " + response.status + ".");
      return response.json();
    })
    .then(function (body) {
      data = body;
      draw();
    })
    .catch(function (error) { fail("Charts unavailable: " + error.message); });
  document.addEventListener("oppscope:themechange", draw);
})();
