#!/bin/sh
# Renders gateway.conf.template by plain string replacement, as the local
# launcher does, from environment variables named after the placeholders:
#   GW_REGION GW_LISTEN_PORT GW_AUTH_ADDR GW_WRITER_ADDR GW_DOCS_DIR
#   GW_PID_FILE GW_LOG_DIR GW_TEMP_DIR, and the readers as either
#   GW_READER_SERVERS (full `server …;` lines) or GW_READERS
#   ("host:port host:port …", turned into lines with GW_READER_OPTS,
#   default "max_fails=2 fail_timeout=5s").
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
for name in REGION LISTEN_PORT AUTH_ADDR WRITER_ADDR DOCS_DIR PID_FILE LOG_DIR TEMP_DIR; do
  eval "value=\${GW_$name:-}"
  [ -n "$value" ] || { echo "render.sh: GW_$name is not set" >&2; exit 2; }
done
awk '
  BEGIN {
    n = split("REGION LISTEN_PORT AUTH_ADDR WRITER_ADDR READER_SERVERS DOCS_DIR PID_FILE LOG_DIR TEMP_DIR", names, " ")
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
