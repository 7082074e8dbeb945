#!/bin/bash
# A lego exec hook in RAW mode (`present|cleanup <domain> <token> <keyAuth>`): it derives the TXT
# value itself, base64url(SHA-256(keyAuth)), as such scripts do. HOOK_DNS_PORT, HOOK_TSIG as nsupdate-hook.sh.
set -euo pipefail
action="$1" domain="$2" key_auth="$4"
value="$(printf '%s' "$key_auth" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
case "$action" in
    present) op="update add _acme-challenge.$domain. 60 TXT \"$value\"" ;;
    cleanup) op="update delete _acme-challenge.$domain. TXT \"$value\"" ;;
    *) echo "unknown action $action" >&2; exit 2 ;;
esac
printf 'server 127.0.0.1 %s\n%s\nsend\n' "$HOOK_DNS_PORT" "$op" | nsupdate -y "$HOOK_TSIG"
