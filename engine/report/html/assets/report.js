/* Surge's HTML report: draws the charts from the inline JSON with uPlot.
   Errors are not caught: a failure shows on the page and in the console, and the page
   never says it is ready (document.body.dataset.ready) unless every chart has drawn. */
"use strict";
(function () {
  window.addEventListener("error", (e) => {
    const box = document.getElementById("surge-error");
    box.hidden = false;
    box.textContent = "This report's script failed: " + e.message;
  });

  const data = JSON.parse(document.getElementById("surge-data").textContent);
  const PRINT_WIDTH = 680; // CSS px across an A4 page's printable width
  const COLORS = ["#3559b7", "#2e9e5b", "#d9822b", "#c62828", "#7b4fb7", "#0f8b8d"];
  const VERDICT = { passed: "rgba(46,158,91,0.16)", failed: "rgba(198,40,40,0.18)" };
  // Ticks on a time axis fall on whole seconds, minutes and hours.
  const SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  // Counts and rates from zero: a dip from 797/s to 779/s must not look like a collapse.
  const FROM_ZERO = { y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } };
  const charts = [];
  const drawn = [];

  function clock(s) {
    const w = Math.max(0, Math.round(s));
    const h = Math.floor(w / 3600), m = Math.floor((w % 3600) / 60), sec = w % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }
  function ms(v) {
    if (v == null) return "–";
    if (v >= 1000) return (v / 1000).toFixed(2) + "s";
    if (v >= 100) return v.toFixed(0) + "ms";
    if (v >= 1) return v.toFixed(2) + "ms";
    return (v * 1000).toFixed(0) + "µs";
  }
  // An axis tick: round values need no decimals (1ms, 20ms, 500µs, 2s), as report show's.
  function tickMs(v) {
    if (v == null) return "";
    const g = (x) => String(+x.toPrecision(3));
    if (v >= 1000) return g(v / 1000) + "s";
    if (v >= 1) return g(v) + "ms";
    return g(v * 1000) + "µs";
  }
  // A server-side value in its unit, as report show's fmt_value words it.
  function inUnit(v, unit) {
    if (v == null) return "–";
    if (unit === "bytes") {
      const units = ["B", "kB", "MB", "GB", "TB"];
      let i = 0;
      while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
      return i ? v.toFixed(1) + " " + units[i] : v.toFixed(0) + " B";
    }
    if (unit === "%") return v.toFixed(1) + "%";
    const n = Math.abs(v) >= 100 ? num(v, 0) : String(+v.toPrecision(3));
    return n + (unit.startsWith("/") ? unit : unit ? " " + unit : "");
  }
  function num(v, digits) {
    return v == null ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits });
  }
  function width(el) {
    return Math.max(320, Math.min(el.clientWidth || 900, 1100));
  }
  function nonzero(values) {
    return values.map((v) => (v > 0 ? v : null));
  }

  // Rollout windows (shaded by verdict, green's weight written on them), steering marks
  // (dashed lines) and insights (dotted, named) on every chart over time.
  function overlays() {
    return {
      hooks: {
        drawClear: [
          (u) => {
            const windows = data.deploy ? data.deploy.windows : [];
            const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
            ctx.save();
            ctx.font = 11 * devicePixelRatio + "px system-ui, sans-serif";
            ctx.textAlign = "center";
            for (const w of windows) {
              const x0 = u.valToPos(w.start, "x", true), x1 = u.valToPos(w.end, "x", true);
              ctx.fillStyle = VERDICT[w.verdict] || "rgba(154,103,0,0.14)";
              ctx.fillRect(x0, top, Math.max(x1 - x0, 1), h);
              if (x1 - x0 > 28 * devicePixelRatio) { // green's weight, where it fits
                ctx.fillStyle = "#1d2126";
                ctx.fillText(w.green + "%", (x0 + x1) / 2, top + 12 * devicePixelRatio);
              }
            }
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
            ctx.save();
            ctx.strokeStyle = "#d9822b";
            ctx.setLineDash([4, 4]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            for (const t of data.marks) {
              const x = u.valToPos(t, "x", true);
              ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
            }
            // where the run broke (the insights), named at the foot of the line
            ctx.strokeStyle = ctx.fillStyle = "#7b4fb7";
            ctx.setLineDash([2, 3]);
            ctx.font = 11 * devicePixelRatio + "px system-ui, sans-serif";
            ctx.textAlign = "left";
            ctx.textBaseline = "alphabetic";
            for (const f of data.insights) {
              const x = u.valToPos(f.at, "x", true);
              ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
              ctx.fillText(f.kind, x + 3 * devicePixelRatio, top + h - 4 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  function fillTable(figure, head, rows) {
    const box = figure.querySelector("details .table");
    const table = document.createElement("table");
    const thead = table.createTHead().insertRow();
    for (const h of head) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      thead.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      row.forEach((cell) => { tr.insertCell().textContent = cell; });
    }
    box.appendChild(table);
  }

  // One chart: `series` are uPlot's after x; opts.head and opts.rows its table (the
  // chart's text alternative).
  function chart(name, aligned, series, opts) {
    const figure = document.querySelector('figure[data-chart="' + name + '"]');
    if (!figure) return;
    const plot = figure.querySelector(".plot");
    let resolve;
    drawn.push(new Promise((r) => { resolve = r; }));
    const base = {
      width: width(plot),
      height: opts.height || 240,
      plugins: opts.plugins || (opts.time === false ? [] : [overlays()]),
      scales: Object.assign({ x: { time: false } }, opts.scales || {}),
      axes: [
        Object.assign({ values: opts.xValues || ((u, v) => v.map(clock)), label: opts.xLabel || "run time" },
                      opts.xValues ? {} : { incrs: SECONDS }),
        { values: opts.yValues, size: 64 },
      ].concat(opts.axes || []),
      series: [{ label: opts.xLabel || "time", value: opts.xValue || ((u, v) => (v == null ? "–" : clock(v))) }].concat(series),
      cursor: Object.assign({ drag: { x: true, y: false } },
                            opts.time === false ? {} : { sync: { key: "run-time" } }),
      hooks: { draw: [() => resolve()] }, // drawn, not just built
    };
    if (!opts.yValues) delete base.axes[1].values;
    charts.push(new uPlot(base, aligned, plot));
    fillTable(figure, opts.head, opts.rows);
  }

  function line(label, color, extra) {
    return Object.assign({ label: label, stroke: color, width: 1.5, spanGaps: true }, extra || {});
  }
  function dashed(s) {
    return Object.assign({}, s, { label: s.label + " (base)", dash: [6, 4], width: 1, alpha: 0.8 });
  }

  // A run's columns, with the base's joined onto one x axis when there is one.
  function overTime(columns) {
    const tl = data.timeline;
    const cols = columns.map((c) => c.values(tl));
    if (!data.base) return [tl.t].concat(cols);
    const b = data.base.timeline;
    return uPlot.join([[tl.t].concat(cols), [b.t].concat(columns.map((c) => c.values(b)))]);
  }

  function timeChart(name, columns, opts) {
    const aligned = overTime(columns);
    let series = columns.map((c) => line(c.label, c.color, c.extra));
    if (data.base) series = series.concat(series.map(dashed));
    const values = columns.map((c) => c.values(data.timeline));
    const rows = data.timeline.t.map((t, i) =>
      [clock(t)].concat(columns.map((c, j) => c.format(values[j][i]))));
    chart(name, aligned, series, Object.assign({ head: ["time"].concat(columns.map((c) => c.label)), rows: rows }, opts));
  }

  if (data.timeline.t.length) {
    const pct = (key, color) => ({ label: key, color: color, values: (tl) => nonzero(tl[key]), format: ms,
                                   extra: { value: (u, v) => ms(v) } });
    timeChart("latency", [pct("p50", COLORS[0]), pct("p90", COLORS[1]), pct("p95", COLORS[2]), pct("p99", COLORS[3])],
              { scales: { y: { distr: 3 } }, yValues: (u, v) => v.map(tickMs) });
    timeChart("rps", [
      { label: "requests/s", color: COLORS[0], values: (tl) => tl.rps, format: (v) => num(v, 1) },
    ], { scales: FROM_ZERO });
    timeChart("errors", [
      { label: "errors %", color: COLORS[3], values: (tl) => tl.error_rate.map((v) => v * 100), format: (v) => num(v, 2) + "%" },
    ], { scales: FROM_ZERO, yValues: (u, v) => v.map((x) => x + "%") });
    timeChart("vus", [
      { label: "VUs", color: COLORS[0], values: (tl) => tl.vus, format: (v) => num(v, 0) },
      { label: "dropped", color: COLORS[3], values: (tl) => tl.dropped, format: (v) => num(v, 0), extra: { scale: "n" } },
    ], { scales: Object.assign({ n: FROM_ZERO.y }, FROM_ZERO),
         axes: [{ scale: "n", side: 1, grid: { show: false }, label: "dropped" }] });
  }

  if (data.histogram) {
    const hist = data.histogram;
    const x = hist.count.map((_, i) => i);
    chart("histogram", [x, hist.count], [
      { label: "requests", fill: "rgba(53,89,183,0.5)", stroke: COLORS[0], paths: uPlot.paths.bars({ size: [0.9] }), points: { show: false } },
    ], {
      time: false, xLabel: "up to (ms)",
      xValues: (u, v) => v.map((i) => (hist.upper_ms[i] == null ? "" : ms(hist.upper_ms[i]))),
      xValue: (u, i) => (i == null ? "–" : "≤ " + ms(hist.upper_ms[i])),
      scales: { x: { time: false, range: [-0.5, hist.count.length - 0.5] } },
      head: ["up to", "requests"], rows: hist.upper_ms.map((m, i) => [ms(m), num(hist.count[i], 0)]),
    });
  }

  if (data.deploy && data.deploy.windows.length) {
    const w = data.deploy.windows;
    const t = [], green = [];
    for (const win of w) { t.push(win.start, win.end); green.push(win.green, win.green); }
    chart("deploy", [t, green], [line("green %", COLORS[1], { paths: uPlot.paths.stepped({ align: 1 }) })], {
      scales: { y: { range: [0, 100] } },
      head: ["window", "green %", "verdict"],
      rows: w.map((win) => [clock(win.start) + "–" + clock(win.end), String(win.green), win.verdict]),
    });
  }

  data.observe.forEach((s, i) => {
    const unit = (u, v) => inUnit(v, s.unit);
    let aligned = [s.t, s.v];
    const series = [line(s.name, COLORS[i % COLORS.length], { value: unit })];
    if (s.base) {
      aligned = uPlot.join([[s.t, s.v], [s.base.t, s.base.v]]);
      series.push(dashed(series[0]));
    }
    chart("observe-" + i, aligned, series, {
      yValues: (u, v) => v.map((x) => inUnit(x, s.unit)),
      head: ["time", s.name + (s.unit ? " (" + s.unit + ")" : "")],
      rows: s.t.map((t, j) => [clock(t), inUnit(s.v[j], s.unit)]),
    });
  });

  if (data.capacity && data.capacity.steps.length) {
    const st = data.capacity.steps;
    chart("capacity", [st.map((s) => s.rate), st.map((s) => s.p95), st.map((s) => s.p99)], [
      line("p95", COLORS[2], { value: (u, v) => ms(v), points: { show: true } }),
      line("p99", COLORS[3], { value: (u, v) => ms(v), points: { show: true } }),
    ], {
      time: false, xLabel: "offered rate (/s)", plugins: [answer(data.capacity)], xValues: (u, v) => v.map((r) => num(r, 0)),
      xValue: (u, v) => num(v, 0) + "/s", yValues: (u, v) => v.map(tickMs),
      head: ["offered /s", "p95", "p99", "held"],
      rows: st.map((s) => [num(s.rate, 0), ms(s.p95), ms(s.p99), s.held ? "held" : "failed"]),
    });
  }

  // The capacity search's answer: a green line at the rate that held, red where it failed.
  function answer(c) {
    const at = [[c.rate, "#2e9e5b"], [c.failed_at, "#c62828"]].filter((a) => a[0] != null);
    return { hooks: { draw: [(u) => {
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.lineWidth = 2 * devicePixelRatio;
      for (const [rate, color] of at) {
        const x = u.valToPos(rate, "x", true);
        ctx.strokeStyle = color;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      }
      ctx.restore();
    }] } };
  }

  function fit(w) {
    for (const u of charts) u.setSize({ width: w || width(u.root.parentNode), height: u.height });
  }
  window.addEventListener("resize", () => fit());
  window.addEventListener("beforeprint", () => fit(PRINT_WIDTH));
  window.addEventListener("afterprint", () => fit());
  window.matchMedia("print").addEventListener("change", (m) => fit(m.matches ? PRINT_WIDTH : 0));

  Promise.all(drawn).then(() => { document.body.dataset.ready = "1"; });
})();
