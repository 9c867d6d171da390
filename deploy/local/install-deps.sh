#!/usr/bin/env bash
# Installs what the local stack and the tests need and is missing:
# PostgreSQL server binaries (with contrib, for unaccent), pgBackRest (the
# stack's backups and WAL archive, its restores and drills) and Redis; with
# --gateway also nginx, the PostgreSQL client, curl and jq (the local stack);
# with --bench wrk, taskset and nginx's brotli_static module (the ceiling
# that serves the reader's brotli bytes as files);
# with --contract a Python virtualenv holding the pinned schemathesis that
# tests/contract.rs runs, kept in the cargo target directory so it survives
# between runs and leaves the stack's state alone; with --clients node, npm
# and clients/node_modules (the generators `make clients` and
# tests/clients.rs run); with --browser Debian's Chromium, node, and in the
# target directory the npm packages tests/browser.rs uses: playwright-core
# (tests/browser/package.json) and the /docs page's Swagger UI
# (deploy/nginx/docs/package.json). npm installs exactly what each
# package-lock.json pins, again only when that lock changes.
# Debian/Ubuntu; runs apt-get as root or through sudo. Safe to re-run.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/tools/schemathesis"

need=()
contract=false
clients=false
browser=false
node_needed() {
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
}
for flag in "$@"; do
  case "$flag" in
    --clients) clients=true; node_needed ;;
    --browser) browser=true; node_needed
               command -v chromium >/dev/null 2>&1 || need+=(chromium) ;;
    --bench) command -v wrk >/dev/null 2>&1 || need+=(wrk)
             command -v taskset >/dev/null 2>&1 || need+=(util-linux)
             # `make bench`'s brotli ceiling: nginx serving the `.br` file
             # beside the identity one (brotli_static on).
             [ -f /usr/lib/nginx/modules/ngx_http_brotli_static_module.so ] \
               || need+=(libnginx-mod-http-brotli-static) ;;
    --contract) contract=true
                command -v python3 >/dev/null 2>&1 || need+=(python3)
                # Debian splits venv and ensurepip out of python3.
                python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv python3-pip) ;;
  esac
done
if [ "${1:-}" = "--gateway" ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  # What `make run` watches itself with: an exporter per gateway, Prometheus.
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v prometheus-nginx-exporter >/dev/null 2>&1 || need+=(prometheus-nginx-exporter)
  # The gateway's njs checks (deploy/nginx/gateway.js).
  [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || need+=(libnginx-mod-http-js)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  # The README's walk-through uses curl and jq.
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v jq >/dev/null 2>&1 || need+=(jq)
fi
pg_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/$1" ] && return 0
  done
  command -v "$1" >/dev/null 2>&1
}
for bin in initdb pg_ctl postgres pg_basebackup pg_rewind; do
  pg_bin "$bin" || { need+=(postgresql); break; }
done
# unaccent ships in the server's contrib package on Debian.
if ! ls /usr/share/postgresql/*/extension/unaccent.control >/dev/null 2>&1; then
  need+=(postgresql-contrib)
fi
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v pgbackrest >/dev/null 2>&1 || need+=(pgbackrest)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-deps: installing ${need[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian packages start servers of their own (a cluster, Redis,
  # nginx, Prometheus and its exporters); the project runs its own on its
  # own ports, so stop the system ones.
  system_services="postgresql redis-server nginx prometheus prometheus-node-exporter prometheus-nginx-exporter"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    # shellcheck disable=SC2086 # a list of names
    $sudo systemctl disable --now $system_services >/dev/null 2>&1 || true
  else
    for service in $system_services; do
      $sudo service "$service" stop >/dev/null 2>&1 || true
    done
  fi
fi

# PostgreSQL refuses to run as root: the tests and the local stack run it as
# the unprivileged `postgres` user, which the package creates; make sure it
# exists even where only the binaries were present.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi

# schemathesis, pinned: a different version generates different cases, so
# the venv is rebuilt when the pin moves.
if $contract && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
  echo "install-deps: installing schemathesis $SCHEMATHESIS_VERSION in $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
# npm ci in DIR, unless its node_modules was installed from the same lock.
npm_ci() {
  local dir="$1" stamp="$1/node_modules/.installed-from-package-lock.json"
  cmp -s "$dir/package-lock.json" "$stamp" && return 0
  echo "install-deps: npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$dir/package-lock.json" "$stamp"
}
# npm ci of the package.json and lock in SOURCE, into DIR.
npm_ci_into() {
  local source="$1" dir="$2"
  mkdir -p "$dir"
  for file in package.json package-lock.json; do
    cmp -s "$source/$file" "$dir/$file" || cp "$source/$file" "$dir/$file"
  done
  npm_ci "$dir"
}
if $clients || $browser; then
  # The pinned packages need node 20 (Debian 12 ships 18: install a newer
  # nodejs, e.g. from the distribution's backports or NodeSource).
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt 20 ]; then
    echo "install-deps: node $(node --version 2>/dev/null || echo missing) is too old: the clients and browser tests need node 20 or newer" >&2
    exit 1
  fi
fi
if $clients; then
  npm_ci "$root/clients"
fi
if $browser; then
  npm_ci_into "$root/tests/browser" "$target/tools/browser"
  npm_ci_into "$root/deploy/nginx/docs" "$target/tools/docs"
fi
echo "install-deps: everything needed is present"
