// CorridorLabs reports (GET /v1/labs/reports): the runs `corridorctl labs
// run` wrote under the state directory, and one report's own page, framed
// as served (self-contained; its figures are the twin's models).

import { get } from './api.js';
import { h, problemBox, table } from './dom.js';

export function render(view, ctx, name) {
  view.append(h('h1', {}, 'CorridorLabs reports'),
    h('p', { class: 'muted' }, 'Scenario replays on the digital twin: every figure is modelled. ',
      'Run one with ', h('code', {}, 'corridorctl labs run scenarios/hvac-failure.toml'), '.'));
  if (!ctx.mayRead('infrastructure')) {
    view.append(h('p', { class: 'muted' }, `${ctx.me.principal} may not read CorridorLabs reports.`));
    view.setAttribute('data-ready', 'true');
    return () => {};
  }
  get('/v1/labs/reports').then(({ body: reports }) => {
    if (reports.length === 0) {
      view.append(h('p', { 'data-empty': 'true' }, 'No reports yet.'));
    } else {
      view.append(table(
        ['report', 'description', 'seed', 'duration (s)', 'corridors blocked', 'bundles blocked', 'calibration events'],
        reports.map((r) => h('tr', {}, [
          h('a', { href: `#/labs/${encodeURIComponent(r.name)}`, 'data-report': r.name }, r.name),
          r.description, r.seed, r.duration_s,
          `${r.corridors_blocked} / ${r.corridors_offered}`,
          `${r.bundles_blocked} / ${r.bundles_offered}`,
          r.calibration_events,
        ].map((cell) => h('td', {}, cell)))),
      ));
    }
    if (name) {
      view.append(h('h2', {}, name),
        h('p', {}, h('a', { href: `/v1/labs/reports/${encodeURIComponent(name)}` }, 'report.json')),
        h('iframe', {
          src: `/v1/labs/reports/${encodeURIComponent(name)}/html`,
          title: `CorridorLabs report ${name}`,
          sandbox: '',
          'data-report-frame': name,
          class: 'labs-report',
        }));
    }
    view.setAttribute('data-ready', 'true');
  }).catch((error) => view.append(problemBox(error)));
  return () => {};
}
