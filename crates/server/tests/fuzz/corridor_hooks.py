"""Schemathesis hooks for the document-driven API test
(crates/server/tests/openapi_contract.rs).

- Watches are streams that never end by themselves; whenever a generated
  request would open one (`watch=true` with no or a valid `timeout_seconds`),
  the hook sets `timeout_seconds=1` so the server closes the stream and the
  response can be checked. A watch case that also pages (`limit`,
  `continue`) is sent as a list: paging does not apply to a watch, and
  every stream costs a second of the run.
- `positive_data_acceptance_by_rule` replaces Schemathesis' built-in
  positive-data check. A request the schema calls valid must not be
  refused, with one documented exception: a 422 whose every violation has
  the rule `compatible` (a relation between fields: one wavelength per
  lane, persistence needs a persistent tier, a window's end differs from
  its start) or `unique` (items too close to each other: wavelengths less
  than 0.05 nm apart), `exists` (an id that names nothing in the
  inventory, such as an unknown optical port) or `grid` (a wavelength no
  channel of the chosen port's DWDM grid serves), which a schema cannot
  state: they relate fields to each other or to the plant. The schema text of those fields says so. Any other refusal of schema-valid data fails.
"""

import json

import schemathesis
from schemathesis.core.failures import Failure


PAGING = ("limit", "continue")


def _whole_seconds(value):
    """The value as an integer number of seconds the server accepts, else None."""
    try:
        seconds = int(str(value))
    except ValueError:
        return None
    return seconds if 1 <= seconds <= 3600 else None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Applied to every case of every phase (the coverage phase builds its
    # cases without the map_* hooks, so a watch there ran until the request
    # timeout: 20 s a case, ten minutes a run). Only a watch the server would
    # stream is touched; a malformed one (watch=2, timeout_seconds=0.5) is
    # refused at once and stays as generated.
    query = case.query
    if not query or str(query.get("watch")) != "true":
        return
    timeout = query.get("timeout_seconds")
    if timeout is not None and _whole_seconds(timeout) is None:
        return
    if any(name in query for name in PAGING):
        # Paging does not apply to a watch (the server checks the token and
        # otherwise ignores both): the case asks nothing of the stream that a
        # plain watch does not. Sent as a list, it checks the paging instead.
        query["watch"] = "false"
    else:
        query["timeout_seconds"] = 1


ACCEPTED = {200, 201, 202, 204, 401, 403, 404, 409, 501}
# compatd's launch rules relate a path to this host: `allowed_roots` (the
# operator's launch directories), `readable`, `elf` (the file's header),
# `installed` (the profile's engine binary).
RELATIONS = {"compatible", "unique", "exists", "grid", "allowed_roots", "readable", "elf", "installed"}


@schemathesis.check
def positive_data_acceptance_by_rule(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status in ACCEPTED:
        return None
    if status == 422:
        try:
            problem = json.loads(response.content)
        except ValueError:
            problem = {}
        errors = problem.get("errors") or []
        if errors and all(e.get("rule") in RELATIONS for e in errors):
            return None
    raise Failure(
        operation=case.operation.label,
        title="Schema-valid request refused",
        message=f"{case.method} {case.path} answered {status} to data the document calls valid:\n{response.text[:600]}",
    )
