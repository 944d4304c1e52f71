"""``ragplan report``: one self-contained HTML page of a result JSON (``pareto``, ``design``,
``capacity`` and ``capacity --sweep-qps``), for people who decide purchases.

The page embeds plotly.js (the ``report`` extra, ``pip install -e '.[report]'``) and the result's data, so it
opens without a network: the frontier (hover a point for its plan, click it to select it; numbered like the
table), the TTFT SLO line, a diagram of the selected plan (its placement groups on chips, retrieval on CPU
servers, decode, with chips and batches), its time breakdown per stage, what bounds it (bottleneck, proven or the
gap; for a capacity answer its binding limits, slack and marginal values), and for a QPS sweep the objective's
curve.
"""

from __future__ import annotations

import html
import json

from planner.errors import InstanceError

__all__ = ["report_html", "result_kind"]


def result_kind(payload: dict) -> str:
    """'frontier', 'capacity' or 'sweep' from a result JSON's keys (InstanceError otherwise)."""
    if not isinstance(payload, dict):
        raise InstanceError("the result JSON is not an object. To fix: pass a file written by ragplan pareto, "
                            "capacity or capacity --sweep-qps with --json")
    if "plan" in payload and "qps_min" in payload:
        return "capacity"
    if isinstance(payload.get("levels"), list) and "metric" in payload:
        return "design"
    points = payload.get("points")
    if isinstance(points, list) and points and isinstance(points[0], dict) and "plan" in points[0]:
        return "sweep"
    if isinstance(points, list) and "instance" in payload:
        return "frontier"
    raise InstanceError(f"the result JSON has keys {sorted(payload)[:8]}, not a pareto, capacity or sweep result. "
                        f"To fix: pass a file written by ragplan pareto/capacity --json")


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise InstanceError("ragplan report needs plotly (the report extra). To fix: pip install -e '.[report]'") \
            from None
    return get_plotlyjs()


def _points(payload: dict, kind: str) -> list[dict]:
    """The plans the page shows, each a frontier point's JSON (a capacity answer's plan; a sweep's plans)."""
    if kind == "frontier":
        return list(payload["points"])
    if kind == "capacity":
        return [payload["plan"]]
    if kind == "design":  # every level's frontier, each point with its level (K6)
        return [p | {"level": i} for i, lv in enumerate(payload["levels"]) for p in lv["frontier"]]
    return [p["plan"] | {"qps_min": p["qps_min"], "objective_value": _objective(p)} for p in payload["points"]]


def _objective(p: dict):
    return {"cost": p.get("cost_usd_per_hour"), "capex": p.get("capex_usd"), "power": p.get("power_w"),
            "chips": p.get("chips")}.get(p.get("objective"), p.get("chips"))


def report_html(payload: dict, title: str | None = None) -> str:
    """The page of a result JSON (see the module's docstring)."""
    kind = result_kind(payload)
    points = _points(payload, kind)
    name = payload.get("instance") or (payload["points"][0].get("instance") if kind == "sweep" and payload["points"]
                                       else "result")
    unit = {"chips": "chips", "cost": "USD/h", "capex": "USD", "power": "W"}.get(payload.get("objective"))
    slo = payload.get("slo") or ({"ttft_max_s": payload["ttft_max_s"]} if payload.get("ttft_max_s") else {})
    data = {"kind": kind, "points": points, "slo": slo,
            "objective": f"{payload.get('objective')} ({unit})" if unit else payload.get("objective"),
            "solver": payload.get("solver"), "explanation": payload.get("explanation"),
            "metric": payload.get("metric"), "levels": [{"quality_min": lv["quality_min"], "knob_costs":
                                                         lv["knob_costs"]} for lv in payload.get("levels", [])],
            "complete": payload.get("complete", True), "solve_seconds": payload.get("solve_seconds")}
    page_title = html.escape(title or f"ragplan: {name}")
    blob = json.dumps(data).replace("</", "<\\/")
    return _PAGE.replace("%TITLE%", page_title).replace("%PLOTLY%", _plotly_js()).replace("%DATA%", blob)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222}h1{font-size:20px}h2{font-size:16px;margin:18px 0 6px}
#top{display:flex;flex-wrap:wrap;gap:16px}#frontier{width:760px;height:460px}#side{min-width:360px;flex:1}
.box{fill:#eef4fb;stroke:#4a78b5}.cpu{fill:#f6efe2;stroke:#b58a4a}.dec{fill:#eef8ee;stroke:#4a9a4a}
svg text{font-size:12px}#explain li{margin:2px 0}.note{color:#666;font-size:12px}
</style>
<script>%PLOTLY%</script></head><body>
<h1>%TITLE%</h1><div id="summary" class="note"></div>
<div id="top"><div><h2 id="charttitle">Frontier</h2><div id="frontier"></div></div>
<div id="side"><h2>Selected plan <span id="which"></span></h2><svg id="plan" width="620" height="190"></svg>
<h2>What bounds it</h2><ul id="explain"></ul><h2>Time per stage</h2><div id="breakdown" style="height:220px"></div></div></div>
<div id="knobs"></div>
<script id="data" type="application/json">%DATA%</script>
<script>
const D = JSON.parse(document.getElementById('data').textContent);
const P = D.points, fmt = (x, d) => (x === null || x === undefined) ? '-' : Number(x).toPrecision(d || 4);
const short = {encode:'enc', rewrite_prefill:'rw-pf', rewrite_decode:'rw-dec', retrieval:'ret', rerank:'rr',
               prefill:'pf', decode:'dec'};
function label(p) {
  const groups = p.placement.map(g => g.map(s => short[s] || s).join('+')).join(' | ');
  const knobs = p.knobs ? '<br>' + Object.entries(p.knobs).map(([k, v]) => k + '=' + v).join(' ') : '';
  return 'TTFT ' + fmt(p.ttft_s) + ' s, QPS/chip ' + fmt(p.qps_per_chip) + '<br>' + p.chips + ' chips, ' +
    p.retrieval_servers + ' servers: ' + groups + '<br>chips ' + JSON.stringify(p.chips_per_stage) +
    '<br>batch ' + JSON.stringify(p.batch_per_stage) + knobs;
}
document.getElementById('summary').textContent = [D.kind, D.solver ? 'solver ' + D.solver : '',
  D.solve_seconds ? fmt(D.solve_seconds, 3) + ' s' : '', P.length + ' plan(s)',
  D.complete ? '' : 'INCOMPLETE (time limit)'].filter(Boolean).join(' · ');
function draw(i) {
  const p = P[i], svg = document.getElementById('plan');
  document.getElementById('which').textContent = '#' + (i + 1);
  const ns = 'http://www.w3.org/2000/svg';
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]); if (text) e.textContent = text; svg.appendChild(e); return e; };
  const groups = p.placement, w = Math.min(170, (612 - 8 * groups.length) / groups.length);
  groups.forEach((g, k) => {
    const x = 8 + k * (w + 8), cpu = g.length === 1 && g[0] === 'retrieval', dec = g.indexOf('decode') >= 0;
    add('rect', {x: x, y: 30, width: w, height: 110, rx: 6, class: cpu ? 'cpu' : dec ? 'dec' : 'box'});
    add('text', {x: x + 6, y: 48}, g.map(s => short[s] || s).join(' + '));
    const acc = g.filter(s => s in p.chips_per_stage);
    add('text', {x: x + 6, y: 68}, cpu || !acc.length ? p.retrieval_servers + ' CPU servers' :
        p.chips_per_stage[acc[0]] + ' x ' + ((p.accelerator_per_stage || {})[acc[0]] || 'chips'));
    if (cpu && p.retrieval_server) add('text', {x: x + 6, y: 132, class: 'note'}, p.retrieval_server);
    g.forEach((s, j) => add('text', {x: x + 6, y: 88 + 14 * j}, (short[s] || s) + ': batch ' + p.batch_per_stage[s]));
    if (g.indexOf('retrieval') >= 0 && !cpu)
      add('text', {x: x + 6, y: 136}, '+ ' + p.retrieval_servers + ' CPU servers');
    if (k < groups.length - 1) add('text', {x: x + w - 2, y: 20}, '→');
  });
  add('text', {x: 8, y: 170}, p.chips + ' chips, ' + fmt(p.qps) + ' QPS, TTFT ' + fmt(p.ttft_s) + ' s, TPOT ' +
      fmt(p.tpot_s * 1e3) + ' ms' + (p.iterative_batch ? ', iterative batch ' + p.iterative_batch : '') +
      (p.burst_requests ? ', burst ' + p.burst_requests : ''));
  const ex = document.getElementById('explain');
  ex.innerHTML = '';
  const items = ['bottleneck: ' + p.bottleneck.join(' + ') + ' (serves ' + p.bottleneck_batch + ' requests every ' +
      fmt(p.bottleneck_cycle_ps / 1e12) + ' s)',
    p.proven_optimal ? 'proven optimal' : 'not proven: gap ' + fmt((p.gap || 0) * 100, 3) + '%'];
  if (p.cost_usd_per_hour !== null && p.cost_usd_per_hour !== undefined) items.push('rent $' + fmt(p.cost_usd_per_hour) + '/h');
  if (p.knobs) items.push('knobs: ' + Object.entries(p.knobs).map(([k, v]) => k + '=' + v).join(', ') +
      '; quality ' + Object.entries(p.quality || {}).map(([k, v]) => k + ' ' + fmt(v, 3)).join(', '));
  if (D.slo && D.slo.ttft_max_s) items.push('TTFT SLO ' + fmt(D.slo.ttft_max_s) + ' s: ' +
      (p.ttft_s <= D.slo.ttft_max_s ? 'met' : 'missed'));
  const why = D.kind === 'capacity' ? D.explanation : null;  // capacity: binding limits and marginal values
  if (why) {
    (why.binds || []).forEach(b => items.push('binds: ' + b));
    (why.slack || []).slice(0, 4).forEach(b => items.push('slack: ' + b));
    (why.marginals || []).forEach(m => items.push('if ' + m.change + ': ' + fmt(m.objective_after) + ' (' +
      (m.delta >= 0 ? '+' : '') + fmt(m.delta) + ')' + (m.proven ? '' : ', not proven')));
  }
  items.forEach(t => { const li = document.createElement('li'); li.textContent = t; ex.appendChild(li); });
  const stages = Object.keys(p.time_share || {});
  Plotly.react('breakdown', [{type: 'bar', x: stages.map(s => short[s] || s),
    y: stages.map(s => 100 * p.time_share[s]), marker: {color: '#4a78b5'}}],
    {margin: {t: 10, b: 30, l: 50, r: 10}, yaxis: {title: {text: '% of resource-time'}}}, {displayModeBar: false});
}
const sweep = D.kind === 'sweep';
const xs = sweep ? P.map(p => p.qps_min) : P.map(p => p.ttft_s);
const ys = sweep ? P.map(p => p.objective_value) : P.map(p => p.qps_per_chip);
const few = P.length <= 40;  // numbered like the table; past 40 points the numbers are in the hover text only
const trace = {x: xs, y: ys, mode: few ? 'lines+markers+text' : 'lines+markers', type: 'scatter',
  text: P.map((p, i) => String(i + 1)),
  textposition: 'top center', hovertext: P.map((p, i) => '#' + (i + 1) + ' ' + label(p)), hoverinfo: 'text',
  line: {shape: sweep ? 'hv' : 'linear'},
  marker: {size: 9, color: '#4a78b5'}};
const shapes = (!sweep && D.slo && D.slo.ttft_max_s) ? [{type: 'line', x0: D.slo.ttft_max_s, x1: D.slo.ttft_max_s,
  yref: 'paper', y0: 0, y1: 1, line: {color: '#c0392b', dash: 'dash'}}] : [];
const ann = shapes.length ? [{x: D.slo.ttft_max_s, yref: 'paper', y: 1, text: 'TTFT SLO', showarrow: false,
  font: {color: '#c0392b'}, xanchor: 'left'}] : [];
document.getElementById('charttitle').textContent = sweep ? 'Least ' + (D.objective || 'objective') +
  ' per QPS target' : 'TTFT vs QPS/chip (hover a point for its plan, click to select it)';
trace.customdata = P.map((p, i) => i);
let traces = [trace];
if (D.kind === 'design') {  // a trace per quality level; the knob costs per level below the plan
  traces = D.levels.map((lv, k) => { const idx = P.map((p, i) => i).filter(i => P[i].level === k);
    return {x: idx.map(i => xs[i]), y: idx.map(i => ys[i]), customdata: idx, mode: 'lines+markers', type: 'scatter',
      name: D.metric + ' >= ' + fmt(lv.quality_min, 3), hovertext: idx.map(i => '#' + (i + 1) + ' ' + label(P[i])),
      hoverinfo: 'text', marker: {size: 8}}; });
  const box = document.getElementById('knobs');
  box.innerHTML = '<h2>What each knob costs (best QPS/chip under the TTFT bound with the knob held)</h2>';
  D.levels.forEach(lv => { const t = document.createElement('table'); t.style.marginBottom = '10px';
    t.innerHTML = '<caption style="text-align:left">' + D.metric + ' >= ' + fmt(lv.quality_min, 3) + '</caption>' +
      '<tr><th>knob</th><th>value</th><th>QPS/chip</th><th>TTFT s</th></tr>' + lv.knob_costs.map(c =>
      '<tr><td>' + c.knob + '</td><td>' + c.value + '</td><td>' + fmt(c.qps_per_chip) + '</td><td>' + fmt(c.ttft_s) +
      '</td></tr>').join('');
    box.appendChild(t); });
}
Plotly.newPlot('frontier', traces, {margin: {t: 10}, shapes: shapes, annotations: ann,
  xaxis: {title: {text: sweep ? 'QPS target' : 'TTFT (s)'}},
  yaxis: {title: {text: sweep ? (D.objective || '') : 'QPS per chip'}}},
  {displaylogo: false}).then(gd => gd.on('plotly_click', ev => draw(ev.points[0].customdata)));
let best = 0;
P.forEach((p, i) => { if (!sweep && p.qps_per_chip > P[best].qps_per_chip) best = i; });
if (P.length) draw(best);
window.ragplanReadyMs = performance.now();  // since the navigation started (bench/bench_report.py)
window.ragplanReady = true;
</script></body></html>
"""
