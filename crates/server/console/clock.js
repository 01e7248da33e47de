// Bandwidth policies as windows on a 24 h clock: one inline-SVG dial per
// time zone (a window is wall-clock time in its policy's zone, so windows
// of different zones share no dial), one ring per policy, its window an
// arc from start to end (clockwise, midnight at the top; a window whose end
// is before its start wraps past midnight), and a hand at the zone's
// current wall-clock time. Every arc has a <title>; the same figures are in
// the table beside the dials.

import { h, table, number } from './dom.js';

// The SVG namespace, taken from the HTML parser (as chart.js does) so that
// no served file names a URL.
const SVG = (() => {
  const holder = document.createElement('div');
  holder.innerHTML = '<svg></svg>';
  return holder.firstChild.namespaceURI;
})();
const COLOURS = ['#1f5fbf', '#c0392b', '#2e8b57', '#8e44ad', '#d35400', '#16a085', '#7f8c8d', '#2c3e50'];
const DAY = 24 * 60;
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function svg(tag, attrs = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) element.setAttribute(name, value);
  }
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Minutes after midnight of `HH:MM`, or null. */
export function minutes(hhmm) {
  const match = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(hhmm || '');
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

/** Length of a window in minutes; one whose end is before its start wraps. */
export function duration(start, end) {
  return (end - start + DAY) % DAY;
}

/**
 * The wall clock of `zone` at `now`: {minute, weekday ('mon'…), text}, or
 * null when the browser's tz database has no such zone.
 */
export function wallClock(zone, now = new Date()) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', weekday: 'short',
    }).formatToParts(now);
  } catch {
    return null;
  }
  const part = (type) => (parts.find((p) => p.type === type) || {}).value;
  const hour = Number(part('hour')) % 24;
  const minute = Number(part('minute'));
  const weekday = String(part('weekday')).slice(0, 3).toLowerCase();
  return { minute: hour * 60 + minute, weekday, text: `${part('hour')}:${part('minute')}` };
}

/**
 * Whether a window is in force at a zone's wall clock: inside start–end
 * (end exclusive), on a day it starts on (for the part after midnight of a
 * wrapping window, the day before). The server decides with the same rule
 * (daylight saving time's skipped and repeated hours aside).
 */
export function inForce(window, clock) {
  const start = minutes(window.start);
  const end = minutes(window.end);
  if (start === null || end === null || !clock) return null;
  const days = window.days || [];
  const startsOn = (day) => days.length === 0 || days.includes(day);
  const previous = WEEKDAYS[(WEEKDAYS.indexOf(clock.weekday) + 6) % 7];
  const m = clock.minute;
  if (start < end) return m >= start && m < end && startsOn(clock.weekday);
  return (m >= start && startsOn(clock.weekday)) || (m < end && startsOn(previous));
}

// A point on the dial: minute 0 at the top, clockwise.
function point(cx, cy, r, minute) {
  const angle = (minute / DAY) * 2 * Math.PI;
  return [cx + r * Math.sin(angle), cy - r * Math.cos(angle)];
}

/** The SVG path of an arc from minute `start` clockwise to minute `end`. */
export function arcPath(cx, cy, r, start, end) {
  const length = duration(start, end);
  const [x1, y1] = point(cx, cy, r, start);
  const [x2, y2] = point(cx, cy, r, end);
  const large = length > DAY / 2 ? 1 : 0;
  const f = (v) => v.toFixed(2);
  return `M ${f(x1)} ${f(y1)} A ${r} ${r} 0 ${large} 1 ${f(x2)} ${f(y2)}`;
}

function describe(policy) {
  const w = policy.window;
  const days = (w.days || []).length ? ` starting ${w.days.join(', ')}` : ' daily';
  return `${policy.name}: at least ${number(policy.min_GBs, 1)} GB/s, ${w.start}–${w.end} ${w.time_zone}${days}`;
}

function targetText(target) {
  if (!target) return 'all bundles of the domain';
  const parts = [];
  for (const [k, v] of Object.entries(target.match_labels || {})) parts.push(`${k}=${v}`);
  if ((target.ids || []).length) parts.push(`ids ${target.ids.join(', ')}`);
  return parts.length ? parts.join(', ') : 'all bundles of the domain';
}

/** One zone's dial: a ring per policy, the hand at the zone's time now. */
function dial(zone, policies, now) {
  const size = 340;
  const c = size / 2;
  const outer = 136;
  const inner = 44;
  const ring = Math.max(6, Math.min(22, (outer - inner) / Math.max(1, policies.length)));
  const clock = wallClock(zone, now);
  const root = svg('svg', {
    width: size, height: size, viewBox: `0 0 ${size} ${size}`, role: 'img',
    class: 'policy-dial', 'data-zone': zone,
    'aria-label': `Policy windows in ${zone} on a 24-hour clock`,
  });
  root.append(svg('circle', { cx: c, cy: c, r: outer + 8, fill: '#fff', stroke: '#d9dde4' }));
  // Hour ticks, labelled every three hours; midnight at the top.
  for (let hour = 0; hour < 24; hour += 1) {
    const [x1, y1] = point(c, c, outer + 8, hour * 60);
    const [x2, y2] = point(c, c, outer + (hour % 3 === 0 ? 0 : 4), hour * 60);
    root.append(svg('line', { x1, y1, x2, y2, stroke: '#5d6675', 'stroke-width': 1 }));
    if (hour % 3 === 0) {
      const [x, y] = point(c, c, outer + 20, hour * 60);
      root.append(svg('text', {
        x, y: y + 4, 'font-size': 11, 'text-anchor': 'middle', fill: '#5d6675',
      }, String(hour).padStart(2, '0')));
    }
  }
  policies.forEach((policy, i) => {
    const r = outer - ring / 2 - i * ring;
    const start = minutes(policy.window.start);
    const end = minutes(policy.window.end);
    const colour = COLOURS[i % COLOURS.length];
    // The ring's track, so an empty part of the day reads as such.
    root.append(svg('circle', { cx: c, cy: c, r, fill: 'none', stroke: '#eef0f3', 'stroke-width': ring - 2 }));
    if (start === null || end === null) return;
    const active = inForce(policy.window, clock);
    const arc = svg('path', {
      d: arcPath(c, c, r, start, end), fill: 'none', stroke: colour,
      'stroke-width': ring - 2, 'stroke-opacity': active ? 1 : 0.55,
      'stroke-dasharray': (policy.window.days || []).length ? '14 3' : null,
      class: 'policy-arc', 'data-policy': policy.id,
      'data-start': policy.window.start, 'data-end': policy.window.end,
      'data-wraps': end < start ? 'true' : 'false',
      'data-in-force': active === null ? null : String(active),
    });
    arc.append(svg('title', {}, describe(policy) + (active ? ' (in force now)' : '')));
    root.append(arc);
    // The figure on the arc, at its middle.
    const [x, y] = point(c, c, r, (start + duration(start, end) / 2) % DAY);
    root.append(svg('text', {
      x, y: y + 3.5, 'font-size': Math.min(10, ring - 4), 'text-anchor': 'middle',
      fill: active ? '#fff' : '#1d2330', 'font-weight': 600, 'pointer-events': 'none', class: 'policy-arc-label',
    }, `${number(policy.min_GBs, 0)}`));
  });
  if (clock) {
    const [x, y] = point(c, c, outer + 6, clock.minute);
    const hand = svg('line', {
      x1: c, y1: c, x2: x.toFixed(2), y2: y.toFixed(2), stroke: '#1d2330', 'stroke-width': 2,
      'stroke-linecap': 'round', class: 'clock-hand', 'data-time': clock.text,
    });
    hand.append(svg('title', {}, `now: ${clock.text} ${clock.weekday} in ${zone}`));
    root.append(hand, svg('circle', { cx: c, cy: c, r: 3, fill: '#1d2330' }));
  }
  root.append(svg('text', { x: c, y: c + 22, 'font-size': 11, 'text-anchor': 'middle', fill: '#1d2330' },
    clock ? `${clock.text} ${zone}` : zone));
  return h('figure', { class: 'dial' }, root,
    h('figcaption', {}, clock
      ? `${zone}: now ${clock.text} (${clock.weekday}); figures are floors in GB/s`
      : `${zone}: this browser's time-zone database lacks it, so no hand is drawn`));
}

/**
 * The policies' dials and table in a container, redrawn by `update(list)`
 * and every half minute (the hand moves). Returns {element, update, stop}.
 */
export function policyClock() {
  const element = h('div', { class: 'policy-clock' });
  let policies = [];
  const draw = () => {
    if (policies.length === 0) {
      element.replaceChildren(h('p', { class: 'muted', 'data-policies': '0' }, 'No policies.'));
      return;
    }
    const now = new Date();
    const zones = new Map();
    const sorted = [...policies].sort((a, b) => (minutes(a.window.start) ?? 0) - (minutes(b.window.start) ?? 0)
      || String(a.name).localeCompare(String(b.name)));
    for (const p of sorted) {
      if (!zones.has(p.window.time_zone)) zones.set(p.window.time_zone, []);
      zones.get(p.window.time_zone).push(p);
    }
    const rows = sorted.map((p) => {
      const w = p.window;
      const start = minutes(w.start);
      const end = minutes(w.end);
      const active = inForce(w, wallClock(w.time_zone, now));
      return h('tr', { 'data-policy': p.id },
        h('td', {}, p.name), h('td', {}, p.security_domain), h('td', {}, targetText(p.target)),
        h('td', {}, number(p.min_GBs, 1)),
        h('td', {}, `${w.start}–${w.end}`, end !== null && end < start ? h('span', { class: 'muted' }, ' (past midnight)') : null),
        h('td', {}, w.time_zone), h('td', {}, (w.days || []).length ? w.days.join(', ') : 'every day'),
        h('td', {}, start === null || end === null ? '—' : `${number(duration(start, end) / 60, 2)} h`),
        h('td', {}, active === null ? '—' : active ? 'yes' : 'no'));
    });
    element.replaceChildren(
      h('div', { class: 'dials' }, [...zones.entries()].map(([zone, list]) => dial(zone, list, now))),
      h('p', { class: 'muted' }, 'Each ring is a policy; its arc is the window in the policy\u2019s time zone (dashed: on some days only), '
        + 'labelled with its floor in GB/s (white while in force); the hand is the time there now. The memory page\u2019s tiers list the floors admitted per window on each device.'),
      table(['policy', 'domain', 'applies to', 'floor GB/s', 'window', 'time zone', 'starts on', 'length', 'in force now'], rows,
        { class: 'policy-table' }));
  };
  const timer = setInterval(draw, 30000);
  return {
    element,
    update: (list) => { policies = list; draw(); },
    stop: () => clearInterval(timer),
  };
}
