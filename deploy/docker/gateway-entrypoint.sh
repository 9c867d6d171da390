#!/bin/sh
# The gateway container: render deploy/nginx/gateway.conf.template from the
# GW_* variables (GW_REGION, GW_AUTH_ADDR, GW_WRITER_ADDR, GW_READERS or
# GW_READER_SERVERS; the paths, the HTTPS port and the status address have
# image defaults; CORS origins, trusted proxies and rate limits have
# render.sh's) and run nginx in the foreground. Logs go to the container's
# stdout/stderr. The TLS certificate and key must be mounted at
# GW_TLS_CERT / GW_TLS_KEY.
set -eu
mkdir -p "$GW_LOG_DIR" "$GW_TEMP_DIR"
ln -sf /dev/stdout "$GW_LOG_DIR/gateway-$GW_REGION.access.log"
ln -sf /dev/stderr "$GW_LOG_DIR/gateway-$GW_REGION.error.log"
conf="${GW_TEMP_DIR}/gateway.conf"
/etc/rcr/render.sh /etc/rcr/gateway.conf.template > "$conf"
nginx -t -q -c "$conf" -p "$GW_TEMP_DIR"
exec nginx -c "$conf" -p "$GW_TEMP_DIR" -g 'daemon off;'
