#!/usr/bin/env bash
# Purges a CDN by surrogate key from one region's change feed
# (GET /content/changes, README "Change feed"): an example consumer.
#
# Run one per region, against that region's gateway: the feed lists a
# change only once the region's replica holds it, so a purge never runs
# before the region can serve what changed (a purge sent from the write
# side could run first, and the CDN would cache the stale page again).
#
#   FEED=https://sa.api.example/content/changes \
#   PURGE_URL=http://varnish-sa:6081/ STATE=/var/lib/rcr-purge/sa \
#   deploy/cdn/purge-from-feed.sh
#
# FEED       the region's feed URL (required)
# PURGE_URL  where purges go (required): by default each batch of keys is
#            sent as `PURGE` with an `xkey-purge: <keys>` header, as a
#            Varnish with vmod_xkey purging on that header expects
#            (deploy/cdn/xkey.vcl); PURGE_CMD replaces that command
# PURGE_CMD  a command run with the keys as its arguments, instead
# STATE      a file keeping the last version processed (default
#            ./purge-from-feed.state), so a restart resumes where it stopped
# POLL       seconds between polls once caught up (default 1; the feed's
#            answers are cacheable for 1 s)
# CURL_OPTS  extra curl options (e.g. --cacert for a private CA)
#
# A `reset` answer (the consumer was away longer than the feed keeps
# changes, 7 days) purges everything: the `*` key, which the example VCL
# maps to a ban of the whole cache. Scheduled releases need no purge:
# every answer a release changes carries a Cache-Control that ends at the
# release (`next_release_at` says when the next one is).
set -euo pipefail

: "${FEED:?FEED: the /content/changes URL of one region}"
STATE=${STATE:-./purge-from-feed.state}
POLL=${POLL:-1}
read -r -a curl_opts <<<"${CURL_OPTS:-}"

purge() {
  if [[ -n ${PURGE_CMD:-} ]]; then
    # shellcheck disable=SC2086 # PURGE_CMD is a command line by design
    $PURGE_CMD "$@"
  else
    : "${PURGE_URL:?PURGE_URL (or PURGE_CMD): where purges go}"
    curl -fsS "${curl_opts[@]}" -X PURGE -H "xkey-purge: $*" -o /dev/null "$PURGE_URL"
  fi
}

since=$(cat "$STATE" 2>/dev/null || echo 0)
while true; do
  if ! page=$(curl -fsS "${curl_opts[@]}" "$FEED?since=$since&limit=1000"); then
    echo "purge-from-feed: the feed did not answer; again in ${POLL}s" >&2
    sleep "$POLL"
    continue
  fi
  if [[ $(jq -r .reset <<<"$page") == true ]]; then
    echo "purge-from-feed: changes after $since are no longer kept: purging everything" >&2
    purge '*'
    since=$(jq -r .version <<<"$page")
  else
    mapfile -t keys < <(jq -r '[.data[].surrogate_keys[]] | unique | .[]' <<<"$page")
    if ((${#keys[@]} > 0)); then
      purge "${keys[@]}"
    fi
    since=$(jq -r '.next_cursor // .version' <<<"$page")
  fi
  # Recorded only after the purge: a crash in between purges again, never
  # skips a change.
  echo "$since" >"$STATE.tmp" && mv "$STATE.tmp" "$STATE"
  if [[ $(jq -r .next_cursor <<<"$page") == null ]]; then
    sleep "$POLL"
  fi
done
