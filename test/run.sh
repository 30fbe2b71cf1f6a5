#!/usr/bin/env bash
# The project's one test command (`sudo npm test`, also what .ci/run calls). On a fresh Debian machine it installs what
# the tests need (Debian packages via apt-get, only the missing ones; npm dependencies and the addon build), then runs
# the type check, the linter, the unused-export check, the unit tests and the integration tests (network namespaces; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test/run.sh: the tests create network namespaces and must run as root: sudo npm test" >&2
  exit 1
fi

bash test/install-deps.sh

if [ ! -f node_modules/.package-lock.json ] || [ ! -f build/Release/packet_socket.node ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The addons are rebuilt when one is missing or older than its C source or binding.gyp (a checkout with an old build/).
for target in packet_socket udp_socket; do
  built="build/Release/$target.node"
  if [ ! -f "$built" ] || [ "src/wire/addon/$target.c" -nt "$built" ] || [ src/wire/addon/addon_common.h -nt "$built" ] || [ binding.gyp -nt "$built" ]; then
    npm run --silent install
    break
  fi
done

npx tsc --noEmit -p .
# Lint and format check (Biome, biome.jsonc): zero findings, or the run fails here.
npx biome ci --reporter=summary .
# Exports nothing imports (knip.json: the tests and the bench count as users).
npx knip --no-progress

# Node 20's --test does not expand globs itself: list the files explicitly.
mapfile -t unit < <(find test/unit -name '*.test.ts' | sort)
mapfile -t integration < <(find test/integration -name '*.test.ts' | sort)

status=0
node --import tsx --test "${unit[@]}" || status=1
# Integration tests share the machine's CPU and create namespaces: one file at a time.
node --import tsx --test --test-concurrency=1 "${integration[@]}" || status=1
exit $status
