#!/bin/bash
# A lego-compatible exec hook (`present|cleanup <fqdn> <value>`) writing through nsupdate:
# what an operator's existing lego script looks like. Credentials come from the environment.
#   HOOK_DNS_PORT, HOOK_TSIG ("alg:name:base64secret")
set -euo pipefail
action="$1" fqdn="$2" value="$3"
case "$action" in
    present) op="update add $fqdn 60 TXT \"$value\"" ;;
    cleanup) op="update delete $fqdn TXT \"$value\"" ;;
    *) echo "unknown action $action" >&2; exit 2 ;;
esac
printf 'server 127.0.0.1 %s\n%s\nsend\n' "$HOOK_DNS_PORT" "$op" | nsupdate -y "$HOOK_TSIG"
