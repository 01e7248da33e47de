// Small DOM helpers: build elements, show problems, mark controls that
// change something (the caller's rights decide whether they exist).

/** h('td', {class: 'x'}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A table from column headers and rows of cells. */
export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', {}, name)))),
    h('tbody', {}, rows));
}

export function problemBox(error) {
  const problem = error.problem || {};
  const reason = problem.reason ? ` (${problem.reason})` : '';
  return h('div', { class: 'problem', role: 'alert' },
    `${error.status || ''} ${problem.title || 'Error'}${reason}: ${error.message}`);
}

/**
 * A control that changes something. Only built when the caller's
 * principal may write `scope` (GET /v1/whoami): a read-only identity gets
 * none in its page at all, not disabled ones.
 */
export function mutation(ctx, scope, build) {
  if (!ctx.mayWrite(scope)) return null;
  const control = build();
  control.setAttribute('data-mutation', scope);
  return control;
}

/** "modelled" next to a figure whose source the API says is a model. */
export function sourceTag(source) {
  if (source === 'model' || source === 'modelled' || source === 'twin') {
    return h('span', { class: 'modelled', title: `source: ${source}` }, 'modelled');
  }
  return source ? h('span', { class: 'muted' }, ` (${source})`) : null;
}

export function number(value, digits = 2) {
  if (value === undefined || value === null) return '—';
  if (typeof value !== 'number') return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(digits);
  return value.toFixed(digits);
}

export function bytes(value) {
  if (typeof value !== 'number') return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
  return `${value.toFixed(i ? 1 : 0)} ${units[i]}`;
}
