// The result page's charts, drawn with the vendored Chart.js from the JSON block the server embedded.
// Colours come from the stylesheet's --chart-* variables, so both charts follow the theme and are
// redrawn when it changes. The predicted interval is drawn by the small plugin below.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var charts = [];

  // CSS variables hold light-dark() pairs; a probe element resolves them to the colour in use.
  function palette() {
    var probe = document.createElement("span");
    probe.hidden = true;
    document.body.appendChild(probe);
    var out = {};
    ["bar", "point", "band", "line", "text", "grid"].forEach(function (name) {
      probe.style.color = "var(--chart-" + name + ")";
      out[name] = getComputedStyle(probe).color;
    });
    probe.remove();
    return out;
  }

  // A shaded band from `low` to `high` and a dashed line at `value` on one axis, with a label at the line.
  var intervalBand = {
    id: "intervalBand",
    beforeDatasetsDraw: function (chart, args, options) {
      if (options.low === undefined) return;
      var area = chart.chartArea;
      var scale = chart.scales[options.axis];
      var a = scale.getPixelForValue(options.low);
      var b = scale.getPixelForValue(options.high);
      var ctx = chart.ctx;
      ctx.save();
      ctx.fillStyle = options.fill;
      if (options.axis === "x") {
        var left = Math.max(Math.min(a, b), area.left);
        ctx.fillRect(left, area.top, Math.min(Math.max(a, b), area.right) - left, area.bottom - area.top);
      } else {
        var top = Math.max(Math.min(a, b), area.top);
        ctx.fillRect(area.left, top, area.right - area.left, Math.min(Math.max(a, b), area.bottom) - top);
      }
      ctx.restore();
    },
    afterDatasetsDraw: function (chart, args, options) {
      if (options.value === undefined) return;
      var area = chart.chartArea;
      var x = chart.scales[options.axis].getPixelForValue(options.value);
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = options.stroke;
      ctx.fillStyle = options.stroke;
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.font = "600 12px " + getComputedStyle(document.body).fontFamily;
      ctx.textBaseline = "bottom";
      var label = ctx.measureText(options.label).width <= area.right - area.left ? options.label : options.short;
      var width = ctx.measureText(label).width;
      var room = area.right - x >= width / 2 && x - area.left >= width / 2;
      ctx.textAlign = room ? "center" : (x - area.left < width / 2 ? "left" : "right");
      ctx.fillText(label, room ? x : (ctx.textAlign === "left" ? area.left : area.right), area.top - 4);
      ctx.restore();
    }
  };

  var compact = new Intl.NumberFormat("en-US", {
    style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1
  });

  function shorten(text, size) {
    return text.length > size ? text.slice(0, size - 1) + "…" : text;
  }

  function arrChart(canvas, c) {
    var d = data.arr;
    canvas.parentElement.style.minHeight = Math.max(260, d.labels.length * 28 + 90) + "px";
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          {
            label: "ARR delivered", data: d.values, backgroundColor: c.bar, borderRadius: 3,
            barPercentage: 0.8, categoryPercentage: 0.9, order: 2
          },
          {
            type: "line", label: "Adjusted to this opportunity", data: d.adjusted, showLine: false,
            pointStyle: "rectRot", pointRadius: 5, pointHoverRadius: 7, backgroundColor: c.point,
            borderColor: c.point, order: 1
          }
        ]
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, grid: { color: c.grid }, ticks: { color: c.text, callback: compact.format } },
          y: {
            grid: { display: false },
            ticks: {
              color: c.text, autoSkip: false,
              callback: function (value, index) { return shorten(d.labels[index], this.chart.width < 500 ? 14 : 22); }
            }
          }
        },
        plugins: {
          legend: { position: "bottom", labels: { color: c.text, usePointStyle: true, boxHeight: 8 } },
          tooltip: {
            callbacks: {
              title: function (items) { return d.titles[items[0].dataIndex] + " (" + d.labels[items[0].dataIndex] + ")"; },
              label: function (item) {
                var texts = item.datasetIndex === 0 ? d.value_text : d.adjusted_text;
                return item.dataset.label + ": " + texts[item.dataIndex];
              }
            }
          },
          intervalBand: {
            axis: "x", low: d.band.low, high: d.band.high, value: d.band.value, label: d.band_text, short: d.band_short,
            fill: c.band, stroke: c.line
          }
        }
      },
      plugins: [intervalBand]
    });
  }

  function timelineChart(canvas, c) {
    var t = data.timeline;
    var labels = {};
    t.ticks.forEach(function (tick) { labels[tick.value] = tick.label; });
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: t.phases.map(function (p) { return p.label; }),
        datasets: [
          {
            label: "Expected", data: t.phases.map(function (p) { return p.bar; }), backgroundColor: c.bar,
            borderRadius: 3, barPercentage: 0.5, grouped: false, order: 1
          },
          {
            label: "Interval of the end", data: t.phases.map(function (p) { return p.range; }),
            backgroundColor: c.band, borderColor: c.line, borderWidth: 1, barPercentage: 0.85, grouped: false,
            order: 2
          }
        ]
      },
      options: {
        indexAxis: "y",
        scales: {
          x: {
            min: 0, max: t.horizon, grid: { color: c.grid },
            afterBuildTicks: function (axis) {
              axis.ticks = t.ticks.map(function (tick) { return { value: tick.value }; });
            },
            ticks: {
              color: c.text, maxRotation: 0,
              // every month when there is room, every second or third one on a narrow screen
              callback: function (value, index) {
                var step = Math.max(1, Math.ceil(t.ticks.length * 84 / this.chart.width));
                return index % step ? "" : labels[value];
              }
            }
          },
          y: { grid: { display: false }, ticks: { color: c.text } }
        },
        plugins: {
          legend: { position: "bottom", labels: { color: c.text, boxHeight: 8 } },
          tooltip: { enabled: false },
          intervalBand: { axis: "x", value: t.launch, label: t.launch_text, short: t.launch_text, stroke: c.line }
        }
      },
      plugins: [intervalBand]
    });
  }

  function draw() {
    charts.forEach(function (chart) { chart.destroy(); });
    var c = palette();
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    // both charts: sized by their container, drawn at once (no animation to wait for), room above for labels
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.animation = false;
    Chart.defaults.layout.padding = { top: 22 };
    charts = [arrChart(document.getElementById("arr-chart"), c)];
    var timeline = document.getElementById("timeline-chart");
    if (timeline && data.timeline) charts.push(timelineChart(timeline, c));
  }

  draw();
  document.addEventListener("oppscope:themechange", draw);
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
