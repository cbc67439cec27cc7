/* The portal's scripts: the live map, sortable tables and the station charts.
 * Plain browser JavaScript over the open API (/api/v1/...) and Apache ECharts; no framework.
 * When ECharts is missing (make assets not run) the pages keep their server-rendered tables. */
(function () {
  "use strict";
  var P = window.PORTAL || { lang: "zh", t: {}, categories: [] };
  var T = P.t;
  var GREY = "#bbbbbb";

  function el(id) { return document.getElementById(id); }
  function hour(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : T.no_value; }
  function category(item) { return P.lang === "zh" ? item.category_zh : item.category_en; }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text; }
    row.appendChild(td);
    return td;
  }
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": " + r.status); }
      return r.json();
    });
  }
  // The series endpoint's default columns layout (period once, one array per field) as one
  // object per period, {period, value, expected, observed, valid, flag?}, by parameter; hours
  // with nothing stored (flag null) are left out, as the rows layout leaves them out.
  function seriesRows(answer) {
    var out = {};
    Object.keys(answer.series).forEach(function (p) {
      var col = answer.series[p], fields = Object.keys(col);
      out[p] = answer.period.map(function (period, i) {
        var r = { period: period };
        fields.forEach(function (f) { r[f] = col[f][i]; });
        return r;
      }).filter(function (r) { return r.flag !== null; });
    });
    return out;
  }
  // ISO day arithmetic on "YYYY-MM-DD" strings (calendar days, no time zone involved)
  function addDays(day, n) {
    var d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function monthStart(day, back) {
    var d = new Date(day.slice(0, 8) + "01T00:00:00Z");
    d.setUTCMonth(d.getUTCMonth() - back);
    return d.toISOString().slice(0, 10);
  }

  /* ---- the map ---------------------------------------------------------------------- */
  // a station whose newest hour is more than STALE_HOURS behind the network's is drawn grey
  var STALE_HOURS = 3;
  function newestTime(snapshot) {
    return snapshot.items.reduce(function (m, s) { return Math.max(m, Date.parse(s.time)); }, 0);
  }
  function isStale(s, newest) { return newest - Date.parse(s.time) > STALE_HOURS * 3600 * 1000; }

  function points(snapshot) {
    var newest = newestTime(snapshot);
    return snapshot.items.filter(function (s) { return s.lon !== null && s.lat !== null; })
      .map(function (s) {
        var stale = isStale(s, newest);
        return {
          name: s.name, site: s.site, category: category(s) || "",
          primary: s.primary_pollutant, time: s.time, stale: stale,
          value: [s.lon, s.lat, s.aqi],
          itemStyle: { color: stale ? GREY : (s.colour || GREY), opacity: stale ? 0.6 : 1 },
          z: stale ? 1 : 2
        };
      })
      // stale first, so the current stations are drawn on top of them
      .sort(function (a, b) { return (b.stale ? 1 : 0) - (a.stale ? 1 : 0); });
  }

  function fillStations(snapshot) {
    var body = document.querySelector("#stations tbody");
    var items = snapshot.items.slice().sort(function (a, b) { return a.site < b.site ? -1 : 1; });
    var newest = newestTime(snapshot);
    body.textContent = "";
    items.forEach(function (s) {
      var tr = document.createElement("tr");
      if (isStale(s, newest)) { tr.className = "stale"; }
      var a = document.createElement("a");
      a.href = "/station/" + encodeURIComponent(s.site);
      a.textContent = s.name;
      cell(tr, a);
      cell(tr, s.site);
      cell(tr, s.aqi === null ? T.no_value : String(s.aqi), "num");
      if (s.colour) {
        var span = document.createElement("span");
        span.className = "cat lvl" + s.level;
        span.style.background = s.colour;
        span.textContent = category(s);
        cell(tr, span);
      } else { cell(tr, T.no_value); }
      cell(tr, s.primary_pollutant || T.no_value);
      cell(tr, hour(s.time));
      body.appendChild(tr);
    });
    var times = snapshot.items.map(function (s) { return s.time; }).sort();
    el("latest-time").textContent = times.length ? hour(times[times.length - 1]) : T.no_value;
    el("station-count").textContent = String(snapshot.items.length);
    el("no-data").hidden = snapshot.items.length > 0;
  }

  // Open the map on the stations when they cluster (the demo's Beijing stations): centre on
  // them and zoom so that they spread over about a third of the map; else the whole region.
  var REGION_SPAN = 6.6;  // degrees the region's boundaries span (lon and lat, about)
  function fitStations(snapshot) {
    var pts = snapshot.items.filter(function (s) { return s.lon !== null && s.lat !== null; });
    if (!pts.length) { return { center: undefined, zoom: 1 }; }
    var lons = pts.map(function (s) { return s.lon; }), lats = pts.map(function (s) { return s.lat; });
    var x0 = Math.min.apply(null, lons), x1 = Math.max.apply(null, lons);
    var y0 = Math.min.apply(null, lats), y1 = Math.max.apply(null, lats);
    var zoom = Math.min(3, Math.max(1, REGION_SPAN / (3 * Math.max(x1 - x0, y1 - y0, 0.1))));
    return zoom > 1.2 ? { center: [(x0 + x1) / 2, (y0 + y1) / 2], zoom: zoom } : { center: undefined, zoom: 1 };
  }

  window.portalMap = function (pollMs) {
    var snapshot = JSON.parse(el("snapshot").textContent);
    var chart = null;
    fillStations(snapshot);
    if (window.echarts) {
      chart = window.echarts.init(el("map"));
      window.portalChart = chart;
      chart.showLoading({ text: T.loading });
      getJSON("/portal/regions.geojson").then(function (geo) {
        window.echarts.registerMap("region", geo);
        chart.hideLoading();
        var view = fitStations(snapshot);
        chart.setOption({
          tooltip: {
            trigger: "item",
            formatter: function (p) {
              if (p.seriesType !== "scatter") { return p.name; }
              var d = p.data;
              return d.name + " (" + d.site + ")<br>AQI " +
                (d.value[2] === null ? T.no_value : d.value[2]) + " " + d.category +
                (d.primary ? "<br>" + T.primary + ": " + d.primary : "") + "<br>" + hour(d.time) +
                (d.stale ? " (" + T.stale + ")" : "");
            }
          },
          geo: {
            map: "region", roam: true, nameProperty: P.lang === "zh" ? "name" : "name_en",
            layoutCenter: ["50%", "50%"], layoutSize: "96%",
            label: { show: true, fontSize: 11, color: "#34414e", textBorderColor: "#fff", textBorderWidth: 2 },
            itemStyle: { areaColor: "#eef2f5", borderColor: "#7d8d9c", borderWidth: 0.8 },
            emphasis: { label: { show: true }, itemStyle: { areaColor: "#dde6ee" } },
            select: { disabled: true },
            center: view.center, zoom: view.zoom
          },
          series: [{
            id: "stations", type: "scatter", coordinateSystem: "geo", symbolSize: 11,
            itemStyle: { borderColor: "#2b2b2b", borderWidth: 0.7 },
            emphasis: { scale: 1.6 },
            data: points(snapshot)
          }]
        });
      }).catch(function () { chart.hideLoading(); });
      chart.on("click", function (p) {
        if (p.data && p.data.site) { window.location.href = "/station/" + p.data.site; }
      });
      window.addEventListener("resize", function () { chart.resize(); });
    }
    window.setInterval(function () {
      getJSON("/api/v1/latest").then(function (fresh) {
        snapshot = fresh;
        fillStations(fresh);
        if (chart) { chart.setOption({ series: [{ id: "stations", data: points(fresh) }] }); }
      }).catch(function () { /* keep the last snapshot; try again at the next tick */ });
    }, pollMs);
  };

  /* ---- sortable tables -------------------------------------------------------------- */
  window.portalSortable = function (table) {
    if (!table) { return; }
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort");
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        var num = th.dataset.type === "num";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var u = x.dataset.value !== undefined ? x.dataset.value : x.textContent.trim();
          var v = y.dataset.value !== undefined ? y.dataset.value : y.textContent.trim();
          if (num) {
            var p = parseFloat(u), q = parseFloat(v);
            // missing values (None, —) last, whatever the direction
            if (isNaN(p) || isNaN(q)) { return isNaN(p) - isNaN(q); }
            return asc ? p - q : q - p;
          }
          return asc ? u.localeCompare(v, P.lang) : v.localeCompare(u, P.lang);
        });
        rows.forEach(function (r) { body.appendChild(r); });
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); h.classList.remove("sorted-asc", "sorted-desc"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  };

  /* ---- the station page ------------------------------------------------------------- */
  function lineOption(rows, unit, limit) {
    return {
      grid: { left: 48, right: 16, top: 28, bottom: 36 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map(function (r) { return r.period.slice(11, 16); }) },
      yAxis: { type: "value", name: unit, min: 0 },
      series: [{
        type: "line", name: "value", smooth: false, showSymbol: true, symbolSize: 5,
        connectNulls: false, areaStyle: { opacity: 0.12 },
        data: rows.map(function (r) { return r.valid ? r.value : null; }),
        markLine: limit ? { symbol: "none", silent: true, lineStyle: { color: "#d33", type: "dashed" },
          label: { position: "insideEndTop", formatter: "GB 3095 " + limit, backgroundColor: "rgba(255,255,255,0.85)", padding: [1, 3] }, data: [{ yAxis: limit }] } : undefined
      }]
    };
  }

  function barOption(rows, unit, limit) {
    return {
      grid: { left: 48, right: 16, top: 28, bottom: 36 },
      tooltip: {
        trigger: "axis",
        formatter: function (ps) {
          var r = rows[ps[0].dataIndex];
          return r.period + "<br>" + (r.value === null ? T.no_value : r.value.toFixed(1)) + " " + unit +
            "<br>" + r.observed + "/" + r.expected + " h" + (r.valid ? "" : " · " + T.invalid_day);
        }
      },
      xAxis: { type: "category", data: rows.map(function (r) { return r.period.slice(5); }) },
      yAxis: { type: "value", name: unit, min: 0 },
      series: [{
        type: "bar", name: "value",
        data: rows.map(function (r) {
          return { value: r.value, itemStyle: { color: r.valid ? "#3f7cac" : "#c9c9c9" } };
        }),
        markLine: limit ? { symbol: "none", silent: true, lineStyle: { color: "#d33", type: "dashed" },
          label: { position: "insideEndTop", formatter: "GB 3095 " + limit, backgroundColor: "rgba(255,255,255,0.85)", padding: [1, 3] }, data: [{ yAxis: limit }] } : undefined
      }]
    };
  }

  // a day with no hourly value at all is left blank; one with too few is "invalid"
  function hasHours(d) {
    return Object.keys(d).some(function (k) { return /_hours$/.test(k) && d[k] > 0; });
  }

  function calendarOption(days, first, last) {
    var pieces = P.categories.map(function (c) {
      return { min: c.min, max: c.max, color: c.colour, label: c.name };
    });
    pieces.push({ value: -1, color: "#dddddd", label: T.invalid });
    return {
      tooltip: {
        formatter: function (p) {
          return p.value[0] + "<br>AQI " + (p.value[1] < 0 ? T.invalid : p.value[1]);
        }
      },
      // the legend is the page's own (HTML, wraps on phones)
      visualMap: { type: "piecewise", pieces: pieces, show: false },
      calendar: {
        range: [first, last], cellSize: ["auto", 18], left: 36, right: 12, top: 30, bottom: 10,
        dayLabel: { nameMap: P.lang === "zh" ? "ZH" : "EN", firstDay: 1, fontSize: 10 },
        monthLabel: { nameMap: P.lang === "zh" ? "ZH" : "EN" },
        yearLabel: { show: false },
        itemStyle: { borderColor: "#fff", borderWidth: 2, color: "#f6f6f6" },
        splitLine: { lineStyle: { color: "#999" } }
      },
      series: [{
        type: "heatmap", coordinateSystem: "calendar",
        data: days.filter(hasHours).map(function (d) {
          return [d.date, d.valid && d.AQI !== null ? d.AQI : -1];
        })
      }]
    };
  }

  window.portalStation = function () {
    var info = JSON.parse(el("station-info").textContent);
    if (!window.echarts) { return; }
    var code = encodeURIComponent(info.code);
    var charts = {
      hours: window.echarts.init(el("chart-24h")),
      days: window.echarts.init(el("chart-30d")),
      calendar: window.echarts.init(el("calendar"))
    };
    window.portalCharts = charts;
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    });
    var newest = Date.parse(info.time);
    var calFirst = monthStart(info.last, 2);
    var hoursUrl = "/api/v1/sites/" + code + "/series?aggregation=hour&from=" +
      addDays(info.last, -1) + "&to=" + info.last;
    var daysUrl = "/api/v1/sites/" + code + "/series?aggregation=day&from=" + info.first +
      "&to=" + info.last;
    var calUrl = "/api/v1/aqi/daily?limit=1000&station=" + code + "&from=" + calFirst +
      "&to=" + info.last;
    Promise.all([getJSON(hoursUrl), getJSON(daysUrl)]).then(function (both) {
      var hours = seriesRows(both[0]), days = seriesRows(both[1]);
      function show(p) {
        var unit = p === "CO" ? "mg/m³" : "µg/m³";
        var last24 = (hours[p] || []).filter(function (r) {
          var t = Date.parse(r.period);
          return t > newest - 24 * 3600 * 1000 && t <= newest;
        });
        var limit = info.limits[p];
        charts.hours.setOption(lineOption(last24, unit, null), true);  // 24-h limits do not apply to hours
        charts.days.setOption(barOption(days[p] || [], unit, limit), true);
        document.querySelectorAll("#pollutant-pick button").forEach(function (b) {
          b.setAttribute("aria-pressed", b.dataset.p === p ? "true" : "false");
        });
      }
      document.querySelectorAll("#pollutant-pick button").forEach(function (b) {
        b.addEventListener("click", function () { show(b.dataset.p); });
      });
      show("PM2.5");
    });
    getJSON(calUrl).then(function (daily) {
      charts.calendar.setOption(calendarOption(daily.items, calFirst, info.last));
    });
  };
})();
