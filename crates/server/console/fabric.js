// The CXL fabric: devices (live) with their attestation, switch ports and
// admitted paths.

import { get, listAndWatch } from './api.js';
import { h, table, problemBox, number, bytes } from './dom.js';

function attestationCell(ctx, device) {
  const cell = h('td', { 'data-attestation': device.attestation_ticket || 'none' }, device.attestation_ticket || 'not attested');
  if (device.attestation_ticket && ctx.mayRead('infrastructure')) {
    get(`/v1/attest/${encodeURIComponent(device.attestation_ticket)}`)
      .then(({ body }) => cell.replaceChildren(h('span', {}, `${body.verdict || '—'}`), h('span', { class: 'muted' }, ` ${device.attestation_ticket}, expires ${body.expires_at || '—'}`)))
      .catch((error) => cell.append(h('span', { class: 'muted' }, ` (${error.status})`)));
  }
  return cell;
}

export function render(view, ctx) {
  view.append(h('h1', {}, 'Fabric'));
  const deviceRows = h('tbody', {});
  const ports = h('div', {});
  const paths = h('div', {});
  view.append(h('h2', {}, 'Devices and attestation'),
    h('table', {}, h('thead', {}, h('tr', {}, ['device', 'type', 'kind', 'switch', 'capacity', 'Gb/s', 'status', 'attestation'].map((c) => h('th', {}, c)))), deviceRows),
    ports, paths);
  const devices = new Map();
  const draw = () => deviceRows.replaceChildren(...[...devices.values()].map((d) => h('tr', { 'data-device': d.id },
    h('td', {}, d.id), h('td', {}, d.type), h('td', {}, d.labels && d.labels.kind), h('td', {}, d.labels && d.labels.switch),
    h('td', {}, bytes(d.capacity_bytes)), h('td', {}, number(d.bandwidth_gbps, 0)), h('td', {}, d.status),
    attestationCell(ctx, d))));
  const stop = listAndWatch('/v1/fabman/devices',
    (items) => { for (const d of items) devices.set(d.id, d); draw(); view.setAttribute('data-ready', 'true'); },
    (type, object) => { if (type === 'DELETED') devices.delete(object.id); else devices.set(object.id, object); draw(); },
    (error) => view.append(problemBox(error)));
  get('/v1/fabman/ports').then(({ body }) => ports.replaceChildren(h('h2', {}, 'Switch ports'),
    table(['switch', 'port', 'attached to', 'link', 'capacity Gb/s', 'guaranteed', 'free', 'paths'], body.map((p) => h('tr', {},
      h('td', {}, p.switch_id), h('td', {}, p.port), h('td', {}, `${p.attachment} ${p.attached_to || ''}`), h('td', {}, p.link),
      h('td', {}, number(p.capacity_gbps, 0)), h('td', {}, number(p.guaranteed_gbps, 0)), h('td', {}, number(p.free_gbps, 0)),
      h('td', {}, (p.paths || []).join(', ')))))))
    .catch((error) => ports.replaceChildren(problemBox(error)));
  get('/v1/fabman/paths').then(({ body }) => paths.replaceChildren(h('h2', {}, 'Paths'),
    body.length === 0 ? h('p', { class: 'muted' }, 'No fabric paths.') :
      table(['path', 'source', 'target', 'type', 'Gb/s', 'status'], body.map((p) => h('tr', {},
        h('td', {}, p.id), h('td', {}, p.source_device), h('td', {}, p.target_device), h('td', {}, p.path_type),
        h('td', {}, number(p.bandwidth_gbps, 0)), h('td', {}, p.status))))))
    .catch((error) => paths.replaceChildren(problemBox(error)));
  return stop;
}
