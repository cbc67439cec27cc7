/* The enterprise page: an outlet's online hourly data with the permitted limit drawn on it.
 * Reads /portal/enterprise/{id}/online.json; draws with ECharts when it is installed. */
(function () {
  "use strict";
  var P = window.PORTAL || { lang: "zh", t: {} };
  var T = P.t;

  function pointStyle(value, flag, limit) {
    if (flag && flag !== "N") { return { color: "#9e9e9e" }; }       // not a valid hour
    if (limit !== null && value > limit) { return { color: "#d62728" }; } // over the permit
    return { color: "#3f7cac" };
  }

  // a round axis maximum above the data and the limit (1, 2, 5 × 10^n steps)
  function niceMax(m) {
    if (!(m > 0)) { return 1; }
    var step = Math.pow(10, Math.floor(Math.log10(m)));
    var k = [1, 2, 5, 10].find(function (f) { return f * step >= m / 5; });
    return Math.ceil(m / (k * step)) * k * step;
  }

  function chartOption(s, flags) {
    var limit = s.limit;
    var labels = s.points.map(function (p) { return p[0].slice(5, 16).replace("T", " "); });
    var top = s.points.reduce(function (m, p) { return Math.max(m, p[1]); }, 0);
    // the hours that stand out: over the limit (valid, flag N) or flagged other than N
    var marked = [];
    s.points.forEach(function (p, i) {
      var style = pointStyle(p[1], p[2], limit);
      if (style.color !== "#3f7cac") { marked.push({ value: [labels[i], p[1]], itemStyle: style, flag: p[2] }); }
    });
    return {
      title: { text: s.name + (s.statistic === "zsavg" ? " (" + T.converted + ")" : "") + " · " + s.unit,
        left: 8, top: 4, textStyle: { fontSize: 13 } },
      grid: { left: 46, right: 18, top: 36, bottom: 36 },
      tooltip: {
        trigger: "axis",
        formatter: function (ps) {
          var p = s.points[ps[0].dataIndex];
          return p[0].slice(0, 16).replace("T", " ") + "<br>" + p[1] + " " + s.unit +
            "<br>" + p[2] + " " + (flags[p[2]] || "");
        }
      },
      xAxis: { type: "category", data: labels },
      yAxis: { type: "value", min: 0, max: niceMax(Math.max(top, limit ? limit * 1.1 : 0)) },
      series: [{
        type: "line", showSymbol: false, lineStyle: { width: 1.2, color: "#3f7cac" },
        itemStyle: { color: "#3f7cac" },
        data: s.points.map(function (p) { return p[1]; }),
        markLine: limit ? {
          symbol: "none", silent: true, lineStyle: { color: "#d62728", type: "dashed", width: 1.5 },
          label: { position: "insideEndTop", formatter: String(limit) + " " + s.unit },
          data: [{ yAxis: limit }]
        } : undefined
      }, {
        type: "scatter", symbolSize: 7, data: marked, z: 3, tooltip: { show: false }
      }]
    };
  }

  window.portalEnterprise = function () {
    var info = JSON.parse(document.getElementById("enterprise-info").textContent);
    var pick = document.getElementById("outlet-pick");
    var box = document.getElementById("online-charts");
    var charts = [];
    window.portalEnterpriseCharts = charts;
    if (!window.echarts) { return; }
    fetch("/portal/enterprise/" + encodeURIComponent(info.id) + "/online.json?days=" + info.days)
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var outlets = data.outlets.filter(function (o) { return o.series.length > 0; });
        function show(k) {
          charts.forEach(function (c) { c.dispose(); });
          charts.length = 0;
          box.textContent = "";
          outlets[k].series.forEach(function (s) {
            var div = document.createElement("div");
            div.className = "chart";
            div.dataset.parameter = s.parameter;
            box.appendChild(div);
            var chart = window.echarts.init(div);
            chart.setOption(chartOption(s, info.flags));
            charts.push(chart);
          });
          pick.querySelectorAll("button").forEach(function (b, i) {
            b.setAttribute("aria-pressed", i === k ? "true" : "false");
          });
        }
        outlets.forEach(function (o, k) {
          var b = document.createElement("button");
          b.type = "button";
          b.textContent = o.code;
          b.title = o.name;
          b.dataset.outlet = o.code;
          b.addEventListener("click", function () { show(k); });
          pick.appendChild(b);
        });
        if (outlets.length) { show(0); }
        window.addEventListener("resize", function () {
          charts.forEach(function (c) { c.resize(); });
        });
      });
  };
})();
