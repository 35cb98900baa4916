#!/usr/bin/env bash
# Writes k8s/overlays/local/secrets.env (not committed) with random values
# for the Secret kukka-secrets of a laptop cluster: kukka pods are reachable
# from other hosts, so they refuse the base's published CHANGE-ME cookie,
# owner token and token secret. Keeps an existing file (changing the token
# secret signs every customer out).
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets.env"
if [ -f "$out" ]; then
  echo "$out exists; remove it to make new secrets"
  exit 0
fi
hex() { python3 -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }
umask 077
cat >"$out" <<SECRETS
KUKKA_COOKIE=$(hex 32)
KUKKA_OWNER_TOKEN=$(hex 32)
KUKKA_TOKEN_SECRET=$(hex 32)
SECRETS
echo "wrote $out (the owner token is in it: KUKKA_OWNER_TOKEN)"
