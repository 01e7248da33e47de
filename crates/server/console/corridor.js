// Corridors: the list with a create form, and one corridor's page — its
// lanes, conditions and telemetry drawn as time series that accumulate
// while the page is open (the API keeps no history here; the page does).

import { get, send, listAndWatch } from './api.js';
import { h, table, problemBox, mutation, sourceTag, number } from './dom.js';
import { timeSeries } from './chart.js';

const TELEMETRY_PERIOD_MS = 2000;

// A request template for the create form: RFC-0001's "Allocate Corridor"
// example. It is input for the user to edit, not a figure shown as data.
const REQUEST_TEMPLATE = {
  corridor_type: 'SiCorridor', lanes: 8,
  lambda_nm: [1550, 1551, 1552, 1553, 1554, 1555, 1556, 1557],
  min_gbps: 400, latency_budget_ns: 250, reach_mm: 75, mode: 'waveguide',
  qos: { pfc: true, priority: 'gold' }, attestation_required: true,
};

function corridorRow(corridor) {
  const priority = corridor.qos ? corridor.qos.priority : '';
  return h('tr', { 'data-corridor': corridor.id },
    h('td', {}, h('a', { href: `#/corridors/${encodeURIComponent(corridor.id)}` }, corridor.id)),
    h('td', {}, corridor.status), h('td', { class: priority }, priority),
    h('td', {}, corridor.lanes), h('td', {}, number(corridor.min_gbps, 0)),
    h('td', {}, (corridor.path || []).join(' → ')), h('td', {}, corridor.security_domain || '—'));
}

function createForm(ctx) {
  return mutation(ctx, 'tenant', () => {
    const text = h('textarea', { id: 'corridor-request', 'aria-label': 'corridor request' });
    text.value = JSON.stringify(REQUEST_TEMPLATE, null, 2);
    const result = h('div', {});
    const form = h('form', { class: 'create-corridor' },
      h('h2', {}, 'Allocate a corridor'),
      h('p', { class: 'muted' }, 'RFC-0001 example request; edit it before creating.'),
      text, h('br'),
      h('button', { type: 'submit', 'data-action': 'create-corridor' }, 'Create corridor'),
      result);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const created = await send('POST', '/v1/corridors', text.value);
        location.hash = `#/corridors/${encodeURIComponent(created.id)}`;
      } catch (error) {
        result.replaceChildren(problemBox(error));
      }
    });
    return form;
  }) || h('p', { class: 'muted' }, `${ctx.me.principal} may not allocate corridors.`);
}

export function renderList(view, ctx) {
  view.append(h('h1', {}, 'Corridors'));
  const rows = h('tbody', {});
  view.append(h('table', {}, h('thead', {}, h('tr', {},
    ['corridor', 'status', 'priority', 'lanes', 'min Gb/s', 'path', 'domain'].map((c) => h('th', {}, c)))), rows));
  view.append(createForm(ctx));
  const corridors = new Map();
  const draw = () => rows.replaceChildren(...[...corridors.values()].map(corridorRow));
  const stop = listAndWatch('/v1/corridors',
    (items) => { for (const c of items) corridors.set(c.id, c); draw(); view.setAttribute('data-ready', 'true'); },
    (type, object) => { if (type === 'DELETED') corridors.delete(object.id); else corridors.set(object.id, object); draw(); },
    (error) => view.append(problemBox(error)));
  return stop;
}

function actions(ctx, id, notices) {
  const act = async (what, method, path) => {
    try {
      const answer = await send(method, path);
      notices.replaceChildren(h('div', { class: 'notice' }, `${what}: ${answer && answer.id ? answer.id : 'done'}`));
    } catch (error) {
      notices.replaceChildren(problemBox(error));
    }
  };
  const recalibrate = mutation(ctx, 'tenant', () => h('button', {
    'data-action': 'recalibrate', onclick: () => act('Recalibration started', 'POST', `/v1/corridors/${id}/recalibrate`),
  }, 'Recalibrate'));
  const release = mutation(ctx, 'tenant', () => h('button', {
    class: 'danger', 'data-action': 'release', onclick: () => act('Released', 'DELETE', `/v1/corridors/${id}`),
  }, 'Release'));
  return h('p', {}, recalibrate, ' ', release);
}

export function render(view, ctx, id) {
  const encoded = encodeURIComponent(id);
  view.append(h('h1', {}, `Corridor ${id}`));
  const notices = h('div', {});
  const summary = h('div', {});
  const lanes = h('div', {});
  const conditions = h('div', {});
  const telemetryState = h('div', {});
  const charts = {
    preFec: timeSeries('pre-FEC BER per lane', 'log scale', { log: true }),
    postFec: timeSeries('post-FEC BER per lane', 'log scale', { log: true }),
    temp: timeSeries('temperature per lane', '°C'),
    drift: timeSeries('ring drift per lane', 'pm'),
    energy: timeSeries('energy per bit', 'pJ/bit'),
  };
  view.append(actions(ctx, encoded, notices), notices, summary,
    h('h2', {}, 'Telemetry'), telemetryState,
    h('div', { class: 'charts' }, Object.values(charts).map((c) => c.element)),
    h('h2', {}, 'Lanes'), lanes, h('h2', {}, 'Conditions'), conditions);

  const drawCorridor = (corridor) => {
    const a = corridor.assignment || {};
    summary.replaceChildren(table(['status', 'priority', 'lanes', 'path', 'achievable Gb/s', 'eye margin', 'margin dB', 'pJ/bit at grant', 'lease expires'], [h('tr', {},
      h('td', { 'data-status': corridor.status }, corridor.status), h('td', {}, corridor.qos && corridor.qos.priority),
      h('td', {}, corridor.lanes), h('td', {}, (corridor.path || []).join(' → ')),
      h('td', {}, number(corridor.achievable_gbps, 1)), h('td', {}, corridor.eye_margin || '—'),
      h('td', {}, number(a.margin_db, 2)), h('td', {}, number(a.energy_pj_per_bit, 3)),
      h('td', {}, corridor.lease_expires_at || '—'))]));
    lanes.replaceChildren(table(['lane', 'λ nm', 'ITU channel n', 'state', 'post-FEC BER'], (corridor.channels || []).map((lane) => h('tr', {},
      h('td', {}, lane.lane), h('td', {}, number(lane.lambda_nm, 3)),
      h('td', {}, a.grid_channels ? a.grid_channels[lane.lane] : '—'),
      h('td', { 'data-lane-state': lane.state }, lane.state), h('td', {}, number(lane.ber, 2))))));
    conditions.replaceChildren(table(['type', 'status', 'reason', 'message', 'since'], (corridor.conditions || []).map((c) => h('tr', {},
      h('td', {}, c.type), h('td', {}, c.status), h('td', {}, c.reason), h('td', {}, c.message), h('td', {}, c.last_transition_time)))));
  };

  const readTelemetry = async () => {
    try {
      const { body: t } = await get(`/v1/corridors/${encoded}/telemetry`);
      const at = Date.parse(t.observed_at) || Date.now();
      for (const lane of t.lanes || []) {
        const name = `lane ${lane.lane}`;
        charts.preFec.push(name, at, lane.pre_fec_ber);
        charts.postFec.push(name, at, lane.ber);
        charts.temp.push(name, at, lane.temp_c);
        charts.drift.push(name, at, lane.drift_pm);
      }
      charts.energy.push('corridor', at, t.power_pj_per_bit);
      for (const chart of Object.values(charts)) chart.redraw();
      telemetryState.replaceChildren(h('span', {}, `observed ${t.observed_at}, drift ${t.drift}, utilisation ${number(t.utilization_percent, 1)} %`), sourceTag(t.source));
    } catch (error) {
      // Dark lanes answer 409 naming each lane's state: shown, not plotted.
      telemetryState.replaceChildren(problemBox(error));
    }
  };

  const stopWatch = listAndWatch('/v1/corridors',
    (items) => {
      const corridor = items.find((c) => c.id === id);
      if (corridor) drawCorridor(corridor); else summary.replaceChildren(h('p', {}, 'No such corridor (or not yours).'));
      view.setAttribute('data-ready', 'true');
    },
    (type, object) => {
      if (object.id !== id) return;
      if (type === 'DELETED') summary.replaceChildren(h('p', {}, 'Released and deleted.')); else drawCorridor(object);
    },
    (error) => view.append(problemBox(error)));
  readTelemetry();
  const timer = setInterval(readTelemetry, TELEMETRY_PERIOD_MS);
  return () => { stopWatch(); clearInterval(timer); };
}
