// The rack at a glance: hosts, optical ports and links from the topology,
// fabric devices from the inventory, and corridors per link (live).

import { get } from './api.js';
import { h, table, problemBox, number } from './dom.js';
import { watchCorridors, occupancy } from './grid.js';

export function render(view) {
  view.append(h('h1', {}, 'Overview'));
  const cards = h('div', { class: 'cards' });
  const body = h('div', {});
  view.append(cards, body);
  let stop = () => {};
  Promise.all([get('/v1/topology'), get('/v1/fabman/devices')]).then(([{ body: topology }, { body: devices }]) => {
    const card = (label, value) => h('div', { class: 'card' }, h('div', { class: 'muted' }, label), h('div', { class: 'figure' }, value));
    const corridorCard = h('div', { class: 'figure' }, '…');
    cards.append(
      card('Hosts', topology.hosts.length),
      card('Optical ports', topology.optical_ports.length),
      card('Links', topology.links.length),
      card('CXL devices', devices.length),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'Corridors'), corridorCard));

    const linkRows = h('tbody', {});
    const drawLinks = (corridors) => {
      corridorCard.textContent = corridors.size;
      linkRows.replaceChildren(...topology.links.map((link) => {
        const port = topology.optical_ports.find((p) => p.id === link.a);
        const held = occupancy(corridors, link.id, port.grid_spacing_ghz);
        const ids = [...new Set([...held.values()].map((c) => c.id))];
        return h('tr', { 'data-link': link.id },
          h('td', {}, h('a', { href: `#/grid/${encodeURIComponent(link.id)}` }, link.id)),
          h('td', {}, link.a), h('td', {}, link.b), h('td', {}, link.medium),
          h('td', {}, number(link.length_mm, 0)), h('td', {}, held.size),
          h('td', {}, ids.map((id) => h('a', { href: `#/corridors/${encodeURIComponent(id)}` }, `${id} `))));
      }));
    };
    body.append(
      h('h2', {}, 'Links'),
      h('table', {}, h('thead', {}, h('tr', {}, ['link', 'port a', 'port b', 'medium', 'length mm', 'channels held', 'corridors'].map((c) => h('th', {}, c)))), linkRows),
      h('h2', {}, 'Hosts'),
      table(['host', 'name', 'cpu', 'sockets', 'optical ports'], topology.hosts.map((host) => h('tr', {},
        h('td', {}, host.id), h('td', {}, host.name), h('td', {}, host.cpu), h('td', {}, host.sockets),
        h('td', {}, topology.optical_ports.filter((p) => p.host === host.id).map((p) => p.id).join(', '))))),
      h('h2', {}, 'Optical ports'),
      table(['port', 'host', 'medium', 'lanes', 'Gb/s per lane', 'grid channels', 'spacing GHz'], topology.optical_ports.map((port) => h('tr', {},
        h('td', {}, port.id), h('td', {}, port.host), h('td', {}, port.medium), h('td', {}, port.lanes),
        h('td', {}, number(port.lane_rate_gbps, 1)), h('td', {}, port.channels.length), h('td', {}, number(port.grid_spacing_ghz, 1))))));
    drawLinks(new Map());
    stop = watchCorridors(drawLinks, (error) => body.append(problemBox(error)));
    view.setAttribute('data-ready', 'true');
  }).catch((error) => view.append(problemBox(error)));
  return () => stop();
}
