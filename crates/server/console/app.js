// The console's shell: who the caller is, the hash router, and each
// view's life cycle (a view returns a function that stops its watches and
// timers when another view replaces it).

import { get } from './api.js';
import { h, problemBox } from './dom.js';
import * as overview from './overview.js';
import * as grid from './grid.js';
import * as corridor from './corridor.js';
import * as memory from './memory.js';
import * as fabric from './fabric.js';
import * as faults from './faults.js';
import * as labs from './labs.js';

const routes = [
  [/^#\/overview$/, overview.render],
  [/^#\/grid(?:\/([^/]+))?$/, grid.render],
  [/^#\/corridors$/, corridor.renderList],
  [/^#\/corridors\/([^/]+)$/, corridor.render],
  [/^#\/memory$/, memory.render],
  [/^#\/memory\/policies$/, memory.renderPolicies],
  [/^#\/memory\/bundle\/([^/]+)$/, memory.renderBundle],
  [/^#\/fabric$/, fabric.render],
  [/^#\/faults$/, faults.render],
  [/^#\/labs(?:\/([^/]+))?$/, labs.render],
];

let stopView = null;

function route(ctx) {
  if (stopView) stopView();
  stopView = null;
  const view = document.getElementById('view');
  view.replaceChildren();
  view.removeAttribute('data-view');
  view.removeAttribute('data-ready');
  const hash = location.hash || '#/overview';
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', hash.startsWith(link.getAttribute('href')));
  }
  for (const [pattern, render] of routes) {
    const match = hash.match(pattern);
    if (match) {
      view.setAttribute('data-view', pattern.source);
      stopView = render(view, ctx, ...match.slice(1).map((part) => part && decodeURIComponent(part)));
      return;
    }
  }
  view.append(h('p', {}, `No page ${hash}.`));
}

async function start() {
  const whoami = document.getElementById('whoami');
  let me;
  try {
    ({ body: me } = await get('/v1/whoami'));
  } catch (error) {
    document.getElementById('view').replaceChildren(problemBox(error));
    return;
  }
  whoami.textContent = me.principal;
  whoami.setAttribute('data-principal', me.principal);
  const ctx = {
    me,
    mayWrite: (scope) => me.write_scopes.includes(scope),
    mayRead: (scope) => me.read_scopes.includes(scope),
  };
  window.addEventListener('hashchange', () => route(ctx));
  route(ctx);
}

start();
