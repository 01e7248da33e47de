// The λ-grid: for each optical link, every channel of its ports' DWDM
// grid, and which corridor holds it, coloured by the corridor's priority.
// Kept live by the corridors watch.

import { get, listAndWatch } from './api.js';
import { h, problemBox, number } from './dom.js';

/** Follows every corridor; `onChange(map of id → corridor)` after each change. */
export function watchCorridors(onChange, onError) {
  const corridors = new Map();
  return listAndWatch('/v1/corridors',
    (items) => { for (const c of items) corridors.set(c.id, c); onChange(corridors); },
    (type, object) => {
      if (type === 'DELETED') corridors.delete(object.id); else corridors.set(object.id, object);
      onChange(corridors);
    },
    onError);
}

/** Whether a corridor still holds its channels. */
function holdsChannels(corridor) {
  return corridor.status !== 'released' && corridor.assignment && Array.isArray(corridor.path);
}

/**
 * ITU channel n (at the port's spacing) → corridor, for the corridors
 * whose path crosses `linkId`. A corridor keeps its channels along its
 * whole path (the planner assigns wavelengths end to end) and names them
 * in `assignment.grid_channels` as ITU n at `assignment.grid_spacing_ghz`;
 * n × spacing is the offset from the grid anchor in GHz, compared exactly
 * (whole numbers) with the port's own.
 */
export function occupancy(corridors, linkId, spacingGhz) {
  const held = new Map();
  for (const corridor of corridors.values()) {
    if (!holdsChannels(corridor) || !corridor.path.includes(linkId)) continue;
    const a = corridor.assignment;
    for (const n of a.grid_channels || []) {
      const offset = n * a.grid_spacing_ghz;
      if (Number.isInteger(offset / spacingGhz)) held.set(offset / spacingGhz, corridor);
    }
  }
  return held;
}

function linkGrid(link, port, corridors) {
  const held = occupancy(corridors, link.id, port.grid_spacing_ghz);
  const cells = port.channels.map((channel) => {
    const corridor = held.get(channel.itu_n);
    const priority = corridor && corridor.qos ? corridor.qos.priority : null;
    return h('a', {
      class: `lambda-cell${priority ? ` ${priority}` : ''}`,
      href: corridor ? `#/corridors/${encodeURIComponent(corridor.id)}` : null,
      title: `channel ${channel.index} (ITU n ${channel.itu_n}): ${number(channel.lambda_nm, 3)} nm, ${number(channel.frequency_thz, 3)} THz` +
        (corridor ? ` — ${corridor.id} (${priority}, ${corridor.status})` : ' — free'),
      'data-link': link.id,
      'data-channel': channel.index,
      'data-itu-n': channel.itu_n,
      'data-corridor': corridor ? corridor.id : null,
      'data-priority': priority,
    }, h('span', {}, `n ${channel.itu_n}`), h('span', {}, number(channel.lambda_nm, 1)));
  });
  return h('section', { class: 'link-grid', 'data-link': link.id },
    h('h2', {}, `${link.id}: ${link.a} ↔ ${link.b}`,
      h('span', { class: 'muted' }, ` ${link.medium}, ${number(link.length_mm, 0)} mm, ${held.size} of ${port.channels.length} channels held`)),
    h('div', { class: 'lambda-grid' }, cells));
}

export function render(view, _ctx, onlyLink) {
  view.append(h('h1', {}, onlyLink ? `λ-grid of ${onlyLink}` : 'λ-grid per link'),
    h('p', { class: 'legend' }, 'Priority:', h('span', { class: 'gold' }), 'gold',
      h('span', { class: 'silver' }), 'silver', h('span', { class: 'bronze' }), 'bronze',
      h('span', {}), 'free'));
  const body = h('div', {});
  view.append(body);
  let topology = null;
  let corridors = new Map();
  const draw = () => {
    if (!topology) return;
    const ports = new Map(topology.optical_ports.map((port) => [port.id, port]));
    const links = topology.links.filter((link) => !onlyLink || link.id === onlyLink);
    body.replaceChildren(...links.map((link) => linkGrid(link, ports.get(link.a), corridors)));
    view.setAttribute('data-ready', 'true');
  };
  let stop = () => {};
  get('/v1/topology').then(({ body: t }) => {
    topology = t;
    stop = watchCorridors((current) => { corridors = current; draw(); }, (error) => view.append(problemBox(error)));
    draw();
  }).catch((error) => view.append(problemBox(error)));
  return () => stop();
}
