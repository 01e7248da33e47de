// Free-form memory: tiers and the devices behind them with admitted floors
// per policy window, bundles (live) with their achieved bandwidth and its
// source, and the bandwidth policies.

import { get, listAndWatch } from './api.js';
import { h, table, problemBox, sourceTag, number, bytes } from './dom.js';

function figure(value) {
  // Figures with an origin arrive as {value, origin}.
  if (value && typeof value === 'object' && 'value' in value) return [number(value.value, 1), sourceTag(value.origin)];
  return number(value, 1);
}

function tiersSection(tiers) {
  return h('section', {},
    h('h2', {}, 'Tiers and devices'),
    h('p', { class: 'muted' }, `admission share ${number(tiers.admission_share, 2)}, ledger revision ${tiers.ledger_revision}`),
    table(['device', 'tier', 'reachable from', 'capacity', 'allocated', 'GB/s', 'admissible GB/s', 'windows: admitted / available GB/s'],
      tiers.devices.map((d) => h('tr', { 'data-device': d.id },
        h('td', {}, d.id), h('td', {}, d.tier, sourceTag(d.source)), h('td', {}, (d.reachable_from || []).join(', ')),
        h('td', {}, bytes(d.capacity_bytes)), h('td', {}, bytes(d.allocated_bytes)),
        h('td', {}, figure(d.bandwidth_GBs)), h('td', {}, number(d.admission_GBs, 2)),
        h('td', {}, (d.windows || []).map((w) => h('div', {}, `${w.window}: ${number(w.admitted_GBs, 1)} / ${number(w.available_GBs, 1)}`)))))));
}

export function render(view) {
  view.append(h('h1', {}, 'Memory'));
  const tiers = h('div', {});
  const bundleRows = h('tbody', {});
  const policies = h('div', {});
  view.append(tiers,
    h('h2', {}, 'Bundles'),
    h('table', {}, h('thead', {}, h('tr', {}, ['bundle', 'domain', 'host', 'class', 'bytes', 'floor GB/s', 'achieved GB/s', 'placement', 'conditions'].map((c) => h('th', {}, c)))), bundleRows),
    policies);
  get('/v1/ffm/tiers').then(({ body }) => tiers.replaceChildren(tiersSection(body))).catch((error) => tiers.replaceChildren(problemBox(error)));
  get('/v1/policies').then(({ body }) => policies.replaceChildren(h('h2', {}, 'Policies'),
    table(['policy', 'domain', 'spec'], body.map((p) => h('tr', {}, h('td', {}, p.id || p.name), h('td', {}, p.security_domain || '—'), h('td', {}, h('code', {}, JSON.stringify(p.spec || p.windows || p))))))))
    .catch((error) => policies.replaceChildren(problemBox(error)));
  const bundles = new Map();
  const draw = () => bundleRows.replaceChildren(...[...bundles.values()].map((b) => h('tr', { 'data-bundle': b.id },
    h('td', {}, b.id), h('td', {}, b.security_domain), h('td', {}, b.host || '—'), h('td', {}, b.latency_class),
    h('td', {}, bytes(b.bytes)), h('td', {}, number(b.bandwidth_floor_GBs, 1)),
    h('td', {}, number(b.achieved_GBs, 1), sourceTag(b.telemetry_source)),
    h('td', {}, (b.placement || []).map((p) => `${p.node} ${bytes(p.bytes)}`).join(', ')),
    h('td', {}, (b.conditions || []).map((c) => `${c.type}=${c.status}`).join(' ')))));
  const stop = listAndWatch('/v1/ffm',
    (items) => { for (const b of items) bundles.set(b.id, b); draw(); view.setAttribute('data-ready', 'true'); },
    (type, object) => { if (type === 'DELETED') bundles.delete(object.id); else bundles.set(object.id, object); draw(); },
    (error) => view.append(problemBox(error)));
  return stop;
}
