// The digital twin's fault injection (POST /v1/admin/twin/faults): admin
// only, and only ever a simulation — the page says so first.

import { get, send } from './api.js';
import { h, problemBox, mutation } from './dom.js';

// Each fault kind and the one figure it takes (the API's TwinFaultKind).
const KINDS = {
  temperature_step: { field: 'celsius', label: 'step °C' },
  laser_ageing: { field: 'db', label: 'power loss dB' },
  ring_detuning: { field: 'nm', label: 'detuning nm' },
  heater_failure: null,
  link_cut: { field: 'cut', label: 'cut (true) or repair (false)' },
  clear: null,
};

export function render(view, ctx) {
  view.append(h('div', { class: 'simulation', 'data-simulation': 'true' },
    'SIMULATION — these faults act on the digital twin only, never on real hardware.'),
  h('h1', {}, 'Twin fault injection'));
  const result = h('div', {});
  get('/v1/topology').then(({ body: topology }) => {
    const form = mutation(ctx, 'admin', () => {
      const kind = h('select', { name: 'kind' }, Object.keys(KINDS).map((k) => h('option', { value: k }, k)));
      const port = h('select', { name: 'port' }, topology.optical_ports.map((p) => h('option', { value: p.id }, p.id)));
      const link = h('select', { name: 'link' }, topology.links.map((l) => h('option', { value: l.id }, l.id)));
      const amount = h('input', { name: 'amount', size: 8 });
      const amountLabel = h('span', {});
      const sync = () => { const k = KINDS[kind.value]; amountLabel.textContent = k ? k.label : '(none)'; amount.disabled = !k; };
      kind.addEventListener('change', sync);
      sync();
      const built = h('form', { class: 'inline' },
        h('label', {}, 'fault', kind), h('label', {}, 'port', port), h('label', {}, 'link (link_cut)', link),
        h('label', {}, amountLabel, amount),
        h('button', { type: 'submit', 'data-action': 'inject-fault' }, 'Inject simulated fault'));
      built.addEventListener('submit', async (event) => {
        event.preventDefault();
        const spec = KINDS[kind.value];
        const fault = { kind: kind.value };
        if (spec) fault[spec.field] = spec.field === 'cut' ? amount.value.trim() !== 'false' : Number(amount.value);
        const body = kind.value === 'link_cut' ? { link: link.value, fault } : { port: port.value, fault };
        try {
          await send('POST', '/v1/admin/twin/faults', body);
          result.replaceChildren(h('div', { class: 'notice' }, `Injected (simulated): ${JSON.stringify(body)}`));
        } catch (error) {
          result.replaceChildren(problemBox(error));
        }
      });
      return built;
    });
    view.append(form || h('p', { class: 'muted' }, `${ctx.me.principal} may not inject faults (admin only).`), result);
    view.setAttribute('data-ready', 'true');
  }).catch((error) => view.append(problemBox(error)));
  return () => {};
}
