#!/bin/sh
# One-shot (compose service `init`): creates the shared secrets once, in the
# `secrets` volume: the auth signing key and the consistency/cursor secrets
# shared by the writer and every reader. Re-running keeps existing ones.
set -eu
dir=/var/lib/rcr/secrets
[ -s "$dir/active.pem" ] || auth gen-key --out "$dir/active.pem"
for name in consistency cursor; do
  [ -s "$dir/$name" ] || head -c 48 /dev/urandom | base64 -w0 > "$dir/$name"
done
chmod 0600 "$dir"/*
echo "secrets ready in $dir"
