#!/bin/sh
# Renders gateway.conf.template by plain string replacement, as the local
# launcher does, from environment variables named after the placeholders:
#   GW_REGION GW_LISTEN_PORT GW_AUTH_ADDR GW_WRITER_ADDR GW_DOCS_DIR
#   GW_PID_FILE GW_LOG_DIR GW_TEMP_DIR GW_TLS_LISTEN GW_TLS_CERT GW_TLS_KEY
#   GW_STATUS_LISTEN GW_SCRIPT_DIR (the folder of gateway.js), and the readers as either GW_READER_SERVERS (full
#   `server …;` lines) or GW_READERS ("host:port host:port …", turned into
#   lines with GW_READER_OPTS, default "max_fails=2 fail_timeout=5s").
# With defaults: GW_CORS_ORIGINS (comma-separated origins allowed on /auth,
#   /reviews and the JWKS, `:*` for any port; default none),
#   GW_TRUSTED_PROXIES (comma-separated addresses/CIDRs whose
#   X-Forwarded-For is believed; default none), and the per-address limits
#   GW_LOGIN_RATE/GW_LOGIN_BURST (1r/s, 10), GW_WRITE_RATE/GW_WRITE_BURST
#   (5r/s, 20), GW_SEARCH_RATE/GW_SEARCH_BURST (20r/s, 40), and all of a
#   region's searches together GW_SEARCH_ALL_RATE/GW_SEARCH_ALL_BURST
#   (100r/s, 50).
# usage: render.sh [TEMPLATE] > gateway.conf
# POSIX sh + awk: used by deploy/check.sh and by the gateway container image.
set -eu
template=${1:-$(dirname "$0")/gateway.conf.template}
if [ -z "${GW_READER_SERVERS:-}" ]; then
  : "${GW_READERS:?set GW_READER_SERVERS or GW_READERS}"
  GW_READER_SERVERS=""
  for addr in $GW_READERS; do
    GW_READER_SERVERS="${GW_READER_SERVERS}server ${addr} ${GW_READER_OPTS:-max_fails=2 fail_timeout=5s};
        "
  done
fi
export GW_READER_SERVERS
# Origins as `map $http_origin` lines: dots escaped, `:*` any port or none.
GW_CORS_ORIGINS_LINES="# no CORS origins configured"
if [ -n "${GW_CORS_ORIGINS:-}" ]; then
  GW_CORS_ORIGINS_LINES=""
  for origin in $(printf '%s' "$GW_CORS_ORIGINS" | tr ',' ' '); do
    case $origin in
      http://*|https://*) ;;
      *) echo "render.sh: CORS origin $origin: expected scheme://host[:port|:*]" >&2; exit 2 ;;
    esac
    pattern=$(printf '%s' "$origin" | sed -e 's/[.]/\\./g' -e 's/:\*$/(:[0-9]+)?/')
    GW_CORS_ORIGINS_LINES="${GW_CORS_ORIGINS_LINES}\"~^${pattern}\$\" \$http_origin;
        "
  done
fi
GW_REAL_IP_FROM="# no trusted proxies: the peer address is the client"
if [ -n "${GW_TRUSTED_PROXIES:-}" ]; then
  GW_REAL_IP_FROM=""
  for proxy in $(printf '%s' "$GW_TRUSTED_PROXIES" | tr ',' ' '); do
    GW_REAL_IP_FROM="${GW_REAL_IP_FROM}set_real_ip_from ${proxy};
    "
  done
fi
: "${GW_LOGIN_RATE:=1r/s}" "${GW_LOGIN_BURST:=10}" "${GW_WRITE_RATE:=5r/s}" "${GW_WRITE_BURST:=20}"
: "${GW_SEARCH_RATE:=20r/s}" "${GW_SEARCH_BURST:=40}" "${GW_SEARCH_ALL_RATE:=100r/s}" "${GW_SEARCH_ALL_BURST:=50}"
GW_CORS_ORIGINS="$GW_CORS_ORIGINS_LINES"
export GW_CORS_ORIGINS GW_REAL_IP_FROM GW_LOGIN_RATE GW_LOGIN_BURST GW_WRITE_RATE GW_WRITE_BURST \
  GW_SEARCH_RATE GW_SEARCH_BURST GW_SEARCH_ALL_RATE GW_SEARCH_ALL_BURST
for name in REGION LISTEN_PORT AUTH_ADDR WRITER_ADDR DOCS_DIR PID_FILE LOG_DIR TEMP_DIR \
            TLS_LISTEN TLS_CERT TLS_KEY STATUS_LISTEN SCRIPT_DIR; do
  eval "value=\${GW_$name:-}"
  [ -n "$value" ] || { echo "render.sh: GW_$name is not set" >&2; exit 2; }
done
awk '
  BEGIN {
    n = split("REGION LISTEN_PORT AUTH_ADDR WRITER_ADDR READER_SERVERS DOCS_DIR PID_FILE LOG_DIR TEMP_DIR TLS_LISTEN TLS_CERT TLS_KEY STATUS_LISTEN SCRIPT_DIR CORS_ORIGINS REAL_IP_FROM LOGIN_RATE LOGIN_BURST WRITE_RATE WRITE_BURST SEARCH_RATE SEARCH_BURST SEARCH_ALL_RATE SEARCH_ALL_BURST", names, " ")
    for (i = 1; i <= n; i++) {
      v = ENVIRON["GW_" names[i]]
      gsub(/[\\&]/, "\\\\&", v)   # literal in gsub replacements
      values[i] = v
    }
  }
  {
    for (i = 1; i <= n; i++) gsub("\\{\\{" names[i] "\\}\\}", values[i])
    if ($0 ~ /\{\{[A-Z_]+\}\}/) { print "render.sh: unknown placeholder: " $0 > "/dev/stderr"; bad = 1 }
    print
  }
  END { exit bad }
' "$template"
