// Free-form memory: tiers and the devices behind them with admitted floors
// per policy window, bundles (live) with their achieved bandwidth and its
// source, the bandwidth policies as windows on a 24 h clock (clock.js), and
// one bundle's page: its placement, floor against achieved bandwidth while
// the page is open, conditions, and its migrations (the operations of
// `PATCH /v1/ffm/{id}/latency_class`) live.

import { get, send, listAndWatch } from './api.js';
import { h, table, problemBox, mutation, sourceTag, number, bytes } from './dom.js';
import { timeSeries } from './chart.js';
import { policyClock } from './clock.js';

const TELEMETRY_PERIOD_MS = 2000;
const LATENCY_CLASSES = ['T0', 'T1', 'T2', 'T3'];
const TIER_NAMES = { T0: 'HBM', T1: 'DRAM', T2: 'CXL', T3: 'persistent' };

function figure(value) {
  // Figures with an origin arrive as {value, origin}.
  if (value && typeof value === 'object' && 'value' in value) return [number(value.value, 1), sourceTag(value.origin)];
  return number(value, 1);
}

/** "model", "counter" or "none" in words, for the source of a bandwidth figure. */
function sourceText(source) {
  if (source === 'counter') return 'measured (resctrl MBM counter)';
  if (source === 'model') return 'modelled (max-min fair share of the devices)';
  if (source === 'none') return 'no figure (no grant to evaluate)';
  return source || '—';
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

function bundleHref(id) {
  return `#/memory/bundle/${encodeURIComponent(id)}`;
}

function placementText(placement) {
  return (placement || []).map((p) => `${p.latency_class} ${p.node} ${bytes(p.bytes)}`).join(', ');
}

/** The policies, live through their watch, drawn on the clock. */
function policiesSection(onReady = () => {}) {
  const clock = policyClock();
  const section = h('section', { id: 'policies' }, h('h2', {}, 'Policies: windows on a 24 h clock'), clock.element);
  const policies = new Map();
  const update = () => clock.update([...policies.values()]);
  const stop = listAndWatch('/v1/policies',
    (items) => { for (const p of items) policies.set(p.id, p); update(); onReady(); },
    (type, object) => { if (type === 'DELETED') policies.delete(object.id); else policies.set(object.id, object); update(); },
    (error) => { section.append(problemBox(error)); onReady(); });
  return { section, stop: () => { stop(); clock.stop(); } };
}

/** `#/memory/policies`: the policies alone. */
export function renderPolicies(view) {
  view.append(h('h1', {}, 'Memory policies'), h('p', {}, h('a', { href: '#/memory' }, '← memory')));
  const { section, stop } = policiesSection(() => view.setAttribute('data-ready', 'true'));
  view.append(section);
  return stop;
}

export function render(view) {
  view.append(h('h1', {}, 'Memory'));
  const tiers = h('div', {});
  const bundleRows = h('tbody', {});
  const policies = policiesSection();
  view.append(tiers,
    h('h2', {}, 'Bundles'),
    h('table', { class: 'bundles' }, h('thead', {}, h('tr', {}, ['bundle', 'domain', 'host', 'class', 'bytes', 'floor GB/s', 'achieved GB/s', 'moved pages', 'placement', 'conditions'].map((c) => h('th', {}, c)))), bundleRows),
    policies.section);
  get('/v1/ffm/tiers').then(({ body }) => tiers.replaceChildren(tiersSection(body))).catch((error) => tiers.replaceChildren(problemBox(error)));
  const bundles = new Map();
  const draw = () => bundleRows.replaceChildren(...[...bundles.values()].map((b) => h('tr', {
    'data-bundle': b.id, class: 'clickable',
    onclick: (event) => { if (!event.target.closest('a')) location.hash = bundleHref(b.id); },
  },
  h('td', {}, h('a', { href: bundleHref(b.id) }, b.id)), h('td', {}, b.security_domain), h('td', {}, b.host || '—'), h('td', {}, b.latency_class),
  h('td', {}, bytes(b.bytes)), h('td', {}, number(b.bandwidth_floor_GBs, 1)),
  h('td', {}, number(b.achieved_GBs, 1), sourceTag(b.telemetry_source)),
  h('td', {}, b.moved_pages),
  h('td', {}, placementText(b.placement)),
  h('td', {}, (b.conditions || []).map((c) => `${c.type}=${c.status}`).join(' ')))));
  const stop = listAndWatch('/v1/ffm',
    (items) => { for (const b of items) bundles.set(b.id, b); draw(); view.setAttribute('data-ready', 'true'); },
    (type, object) => { if (type === 'DELETED') bundles.delete(object.id); else bundles.set(object.id, object); draw(); },
    (error) => view.append(problemBox(error)));
  return () => { stop(); policies.stop(); };
}

// ---- One bundle -----------------------------------------------------------

/** Migrate to another latency class; change the bandwidth floor. */
function controls(ctx, id, current, notices, onOperation) {
  const say = (node) => notices.replaceChildren(node);
  const migrate = mutation(ctx, 'tenant', () => {
    const select = h('select', { id: 'migrate-class', 'aria-label': 'destination latency class' },
      LATENCY_CLASSES.map((c) => h('option', { value: c, selected: c === current ? true : null }, `${c} (${TIER_NAMES[c]})`)));
    const form = h('form', { class: 'inline', 'data-form': 'migrate' },
      h('label', {}, 'migrate to latency class', select),
      h('button', { type: 'submit', 'data-action': 'migrate' }, 'Migrate'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const to = select.value;
        const operation = await send('PATCH', `/v1/ffm/${encodeURIComponent(id)}/latency_class`, { latency_class: to });
        say(h('div', { class: 'notice' }, `Migration to ${to} started: operation ${operation.id}`));
        onOperation({ ...operation, requestedClass: to });
      } catch (error) {
        say(problemBox(error));
      }
    });
    return form;
  });
  const floor = mutation(ctx, 'tenant', () => {
    const input = h('input', {
      id: 'floor-GBs', type: 'number', min: 0, max: 10000, step: 'any', required: true, 'aria-label': 'bandwidth floor GB/s',
    });
    const form = h('form', { class: 'inline', 'data-form': 'bandwidth' },
      h('label', {}, 'bandwidth floor GB/s', input),
      h('button', { type: 'submit', 'data-action': 'set-floor' }, 'Set floor'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const bundle = await send('PATCH', `/v1/ffm/${encodeURIComponent(id)}/bandwidth`, { floor_GBs: Number(input.value) });
        say(h('div', { class: 'notice' }, `Floor set to ${number(bundle.bandwidth_floor_GBs, 1)} GB/s`));
      } catch (error) {
        // 409 names the binding device and window; nothing changed.
        say(problemBox(error));
      }
    });
    return form;
  });
  if (!migrate && !floor) return h('p', { class: 'muted' }, `${ctx.me.principal} may not change bundles.`);
  return h('div', { class: 'controls' }, migrate, floor);
}

function pageCounts(detail) {
  if (!detail) return '—';
  const n = (v) => (typeof v === 'number' ? v : '—');
  return `${n(detail.moved_pages)} moved, ${n(detail.examined_pages)} of ${n(detail.resident_pages)} resident examined, ${n(detail.left_pages)} left`;
}

function resultText(result) {
  if (!result) return '—';
  const parts = [];
  if (result.latency_class) parts.push(`now ${result.latency_class}`);
  if (typeof result.moved_pages === 'number') parts.push(`${result.moved_pages} pages moved`);
  if (typeof result.measured_seconds === 'number') parts.push(`${number(result.measured_seconds, 3)} s measured`);
  if (typeof result.twin_modelled_seconds === 'number') parts.push(`${number(result.twin_modelled_seconds, 2)} s modelled (twin link ${number(result.twin_link_GBs, 1)} GB/s)`);
  if (result.policy) parts.push(`policy ${result.policy}`);
  return parts.join(', ');
}

function operationRow(op) {
  return h('tr', { 'data-operation': op.id, 'data-state': op.state, 'data-seen-on': op.seenOn },
    h('td', {}, op.id),
    h('td', { class: `state ${op.state}` }, op.state),
    h('td', {}, h('progress', { max: 100, value: op.progress_percent }), ` ${op.progress_percent} %`),
    h('td', {}, pageCounts(op.progress_detail)),
    h('td', {}, op.message || '—'),
    h('td', {}, op.error ? `${op.error.title || ''}: ${op.error.detail || ''}` : resultText(op.result)),
    h('td', {}, op.created_at), h('td', {}, op.updated_at));
}

export function renderBundle(view, ctx, id) {
  const encoded = encodeURIComponent(id);
  view.append(h('h1', {}, `Bundle ${id}`), h('p', {}, h('a', { href: '#/memory' }, '← memory')));
  const notices = h('div', {});
  const controlSlot = h('div', {});
  const summary = h('div', {});
  const placement = h('div', {});
  const conditions = h('div', {});
  const telemetryState = h('div', {});
  const migrations = h('tbody', {});
  const migrationNote = h('p', { class: 'muted' });
  const chart = timeSeries('bandwidth: floor and achieved', 'GB/s');
  view.append(controlSlot, notices, summary,
    h('h2', {}, 'Placement'), placement,
    h('h2', {}, 'Migrations'), migrationNote,
    h('table', { class: 'migrations' }, h('thead', {}, h('tr', {},
      ['operation', 'state', 'progress', 'pages', 'message', 'outcome', 'started', 'updated'].map((c) => h('th', {}, c)))), migrations),
    h('h2', {}, 'Bandwidth'), telemetryState, h('div', { class: 'charts' }, chart.element),
    h('h2', {}, 'Conditions'), conditions);

  const operations = new Map();
  const drawOperations = () => {
    const mine = [...operations.values()].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    migrations.replaceChildren(...(mine.length ? mine.map(operationRow)
      : [h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No migration seen.'))]));
  };
  const isMine = (op) => op && op.kind === 'migration' && op.target && op.target.id === id;
  const noteOperation = (op) => {
    if (!isMine(op)) return;
    // Keep what the page knows of an operation it started (the class asked for).
    const known = operations.get(op.id);
    operations.set(op.id, known && known.requestedClass ? { ...op, requestedClass: known.requestedClass } : op);
    drawOperations();
  };
  drawOperations();

  let controlsDrawn = false;
  const drawBundle = (b) => {
    if (!controlsDrawn) {
      controlSlot.replaceChildren(controls(ctx, id, b.latency_class, notices, noteOperation));
      controlsDrawn = true;
    }
    // The migrate form offers the class the bundle is in now.
    const classSelect = document.getElementById('migrate-class');
    if (classSelect && document.activeElement !== classSelect) classSelect.value = b.latency_class;
    const floorInput = document.getElementById('floor-GBs');
    if (floorInput && document.activeElement !== floorInput && !floorInput.value) floorInput.value = b.bandwidth_floor_GBs;
    // Achieved bandwidth and p99 are under Bandwidth, from the telemetry
    // endpoint: the watch carries the stored object, not those figures.
    summary.replaceChildren(table(['domain', 'host', 'latency class', 'bytes', 'persistence', 'shareable', 'pages', 'floor GB/s', 'moved pages', 'lease s', 'created'], [h('tr', {},
      h('td', {}, b.security_domain), h('td', {}, b.host || '—'),
      h('td', { 'data-latency-class': b.latency_class }, `${b.latency_class} (${TIER_NAMES[b.latency_class] || '?'})`),
      h('td', {}, bytes(b.bytes)), h('td', {}, b.persistence), h('td', {}, b.shareable ? 'yes' : 'no'),
      h('td', {}, b.page_size || '—'),
      h('td', { 'data-floor': b.bandwidth_floor_GBs }, number(b.bandwidth_floor_GBs, 1)),
      h('td', {}, b.moved_pages), h('td', {}, b.policy_lease_ttl_s), h('td', {}, b.created_at))]));
    const total = (b.placement || []).reduce((sum, p) => sum + (p.bytes || 0), 0);
    placement.replaceChildren((b.placement || []).length
      ? table(['tier', 'node or device', 'bytes', 'share'], b.placement.map((p) => h('tr', { 'data-placement-node': p.node, 'data-latency-class': p.latency_class },
        h('td', {}, `${p.latency_class} (${TIER_NAMES[p.latency_class] || '?'})`), h('td', {}, p.node), h('td', {}, bytes(p.bytes)),
        h('td', {}, total ? `${number((100 * p.bytes) / total, 1)} %` : '—'))), { class: 'placement' })
      : h('p', { class: 'muted' }, 'Not placed (yet).'),
    (b.attestations || []).length ? h('p', { class: 'muted' }, `attested by ${b.attestations.join(', ')}`) : null);
    conditions.replaceChildren(table(['type', 'status', 'reason', 'message', 'since'], (b.conditions || []).map((c) => h('tr', { 'data-condition': c.type },
      h('td', {}, c.type), h('td', {}, c.status), h('td', {}, c.reason), h('td', {}, c.message), h('td', {}, c.last_transition_time)))));
  };

  // A caller that may not read operations learns how its own migrations
  // ended from the bundle: no longer migrating and in the class asked for.
  const mayReadOperations = ctx.mayRead('infrastructure');
  const settleFromBundle = (t) => {
    if (mayReadOperations) return;
    let changed = false;
    for (const op of operations.values()) {
      if (['succeeded', 'failed', 'cancelled'].includes(op.state) || t.migrating) continue;
      if (t.latency_class === op.requestedClass) {
        Object.assign(op, {
          state: 'succeeded', progress_percent: 100, seenOn: 'bundle',
          message: `seen on the bundle: no longer migrating, now ${t.latency_class}`,
        });
      } else {
        op.message = `the bundle is not migrating and is in ${t.latency_class}, not ${op.requestedClass}: the migration may have failed (its operation is not readable here)`;
      }
      changed = true;
    }
    if (changed) drawOperations();
  };

  const readTelemetry = async () => {
    try {
      const { body: t } = await get(`/v1/ffm/${encoded}/telemetry`);
      settleFromBundle(t);
      const at = Date.parse(t.observed_at) || Date.now();
      chart.push('floor (granted)', at, t.bandwidth_floor_GBs);
      chart.push(`achieved (${t.source})`, at, t.achieved_GBs);
      chart.redraw();
      telemetryState.replaceChildren(h('p', { 'data-telemetry-source': t.source },
        `achieved ${number(t.achieved_GBs, 1)} GB/s against a floor of ${number(t.bandwidth_floor_GBs, 1)} GB/s — achieved is ${sourceText(t.source)}; `
        + `the floor is the granted figure; p99 stall ${number(t.tail_p99_ms, 3)} ms (modelled). `
        + `Resident: ${(t.resident || []).map((r) => `${r.latency_class} ${bytes(r.bytes)}`).join(', ') || '—'}. `
        + `${t.migrating ? 'Migrating now. ' : ''}Observed ${t.observed_at || 'now'}; plotted while this page is open (memqosd keeps no history).`,
      sourceTag(t.source)));
    } catch (error) {
      telemetryState.replaceChildren(problemBox(error));
    }
  };

  const stops = [];
  stops.push(listAndWatch('/v1/ffm',
    (items) => {
      const bundle = items.find((b) => b.id === id);
      if (bundle) drawBundle(bundle); else summary.replaceChildren(h('p', {}, 'No such bundle (or not yours).'));
      view.setAttribute('data-ready', 'true');
    },
    (type, object) => {
      if (object.id !== id) return;
      if (type === 'DELETED') summary.replaceChildren(h('p', {}, 'Freed and deleted.')); else drawBundle(object);
    },
    (error) => { view.append(problemBox(error)); view.setAttribute('data-ready', 'true'); }));

  // Operations carry no security domain, so reading them is infrastructure
  // scope: a tenant sees its own migrations only as this page started them
  // (and the bundle's `migrating` telemetry).
  if (ctx.mayRead('infrastructure')) {
    migrationNote.textContent = 'Every migration of this bundle (PATCH …/latency_class), live through the operations watch: progress is the kernel\u2019s page counts.';
    stops.push(listAndWatch('/v1/operations',
      (items) => { for (const op of items) if (isMine(op)) operations.set(op.id, op); drawOperations(); },
      (type, object) => { if (type === 'DELETED') operations.delete(object.id); else noteOperation(object); },
      (error) => migrationNote.replaceChildren(problemBox(error))));
  } else {
    migrationNote.textContent = `${ctx.me.principal} may not read operations (infrastructure scope): only migrations started from this page are shown, `
      + 'as they were accepted, and marked succeeded once the bundle is no longer migrating and is in the class asked for.';
  }

  readTelemetry();
  const timer = setInterval(readTelemetry, TELEMETRY_PERIOD_MS);
  return () => { for (const stop of stops) stop(); clearInterval(timer); };
}
