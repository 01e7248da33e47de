"""Schemathesis hooks for the document-driven API test
(crates/server/tests/openapi_contract.rs).

- Watches are streams that never end by themselves; whenever a generated
  list request asks for `watch=true`, the hook adds `timeout_seconds=1` so
  the server closes the stream and the response can be checked. A watch
  case that also pages (`limit`, `continue`) is sent as a list: paging does
  not apply to a watch, and every stream costs a second of the run.
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


@schemathesis.hook
def map_query(ctx, query):
    if query and str(query.get("watch")).lower() == "true":
        if any(name in query for name in PAGING):
            # Paging does not apply to a watch (the server checks the token
            # and otherwise ignores both): the case asks nothing of the
            # stream that a plain watch does not, and each stream costs its
            # second. Sent as a list, it checks the paging instead.
            query["watch"] = "false"
        else:
            query["timeout_seconds"] = 1
    return query


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
