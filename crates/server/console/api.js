// The console's only way to the server: same-origin fetches and
// server-sent-event watches, with the browser's client certificate.

/** An RFC 9457 problem the server answered, or a transport failure. */
export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText, status: response.status };
  }
}

/** GET a JSON resource; `revision` is the list's X-Resource-Version. */
export async function get(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new ApiProblem(response.status, await problemOf(response));
  return { body: await response.json(), revision: response.headers.get('x-resource-version') };
}

/** A changing request; answers the parsed body (or null for 204). */
export async function send(method, path, body) {
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw new ApiProblem(response.status, await problemOf(response));
  return response.status === 204 ? null : response.json();
}

/**
 * Lists `path` and follows it: `onList(items)` once, then `onEvent(type,
 * object)` for every ADDED/MODIFIED/DELETED after the list's revision.
 * A dropped stream is reopened from the last revision seen, so no change
 * is missed. Returns a function that stops watching.
 */
export function listAndWatch(path, onList, onEvent, onError) {
  let source = null;
  let stopped = false;
  let revision = null;
  let retry = null;
  const open = () => {
    if (stopped) return;
    const sep = path.includes('?') ? '&' : '?';
    source = new EventSource(`${path}${sep}watch=true&resource_version=${encodeURIComponent(revision)}`);
    for (const type of ['ADDED', 'MODIFIED', 'DELETED']) {
      source.addEventListener(type, (event) => {
        const data = JSON.parse(event.data);
        if (data.resource_version) revision = data.resource_version;
        onEvent(type, data.object);
      });
    }
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && !stopped) {
        retry = setTimeout(open, 2000);
      }
    };
  };
  get(path)
    .then(({ body, revision: listed }) => {
      revision = listed;
      onList(body);
      open();
    })
    .catch((error) => onError && onError(error));
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (source) source.close();
  };
}
