#!/usr/bin/env bash
# Installs the API contract tools the tests run, Schemathesis (the
# property-based API fuzzer driven by the OpenAPI document) and
# openapi-spec-validator, into a virtualenv under the build folder
# (target/api-tools, or $CORRIDOR_API_TOOLS). Idempotent: does nothing when
# the pinned versions are there.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${CORRIDOR_API_TOOLS:-$here/../target/api-tools}
schemathesis=4.32.5
validator=0.9.0

if [ -x "$dir/bin/st" ] && [ -x "$dir/bin/openapi-spec-validator" ] &&
    "$dir/bin/st" --version 2>/dev/null | grep -q "$schemathesis" &&
    "$dir/bin/pip" show openapi-spec-validator 2>/dev/null | grep -q "^Version: $validator$"; then
    exit 0
fi

# Debian splits venv (and ensurepip) out of python3.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq python3-venv
fi

python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$schemathesis" "openapi-spec-validator==$validator"
echo "install-api-tools: schemathesis $schemathesis and openapi-spec-validator $validator in $dir"
