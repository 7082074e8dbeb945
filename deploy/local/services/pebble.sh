# Pebble (Let's Encrypt's ACME test CA) and pebble-challtestsrv (its test DNS
# server) as plain processes, data and logs under $CERTFLEET_STACK_DIR/pebble.
# Every port is overridable so a test can run a private Pebble next to the shared one:
#   CERTFLEET_PEBBLE_PORT              ACME HTTPS listener (default 14000)
#   CERTFLEET_PEBBLE_MANAGEMENT_PORT   Pebble management, /roots/0 (default PEBBLE_PORT + 1000)
#   CERTFLEET_CHALLTESTSRV_PORT        challtestsrv management API (default 8055)
#   CERTFLEET_CHALLTESTSRV_DNS_PORT    challtestsrv DNS, Pebble's resolver (default 8053)
#   CERTFLEET_ACME_HTTP_PORT           where Pebble validates http-01 on 127.0.0.1 (default 5002)
#   CERTFLEET_ACME_TLS_PORT            where Pebble would validate tls-alpn-01 (default 5001)
#   CERTFLEET_PEBBLE_EAB_KEYS          "kid=base64urlkey,…": when set, Pebble requires EAB
#   CERTFLEET_PEBBLE_DNS_SERVER        host:port Pebble resolves through (default: its challtestsrv), e.g. a
#                                      private BIND serving the test zone (dns-01 against real DNS)
#   CERTFLEET_PEBBLE_SHARE_DNS=1       use an already running challtestsrv on the DNS/management
#                                      ports instead of starting one (a private Pebble next to the shared one)
#   CERTFLEET_PEBBLE_NICE              nice value of Pebble and challtestsrv (default 0; `bench storm`
#                                      runs its Pebble at 10: a CA on other machines takes no CPU here)
# Pebble's own PEBBLE_* switches (PEBBLE_WFE_NONCEREJECT, PEBBLE_VA_ALWAYS_VALID …) are
# passed through from the caller's environment; PEBBLE_VA_NOSLEEP defaults to 1.
CERTFLEET_PEBBLE_PORT="${CERTFLEET_PEBBLE_PORT:-14000}"
CERTFLEET_PEBBLE_MANAGEMENT_PORT="${CERTFLEET_PEBBLE_MANAGEMENT_PORT:-$((CERTFLEET_PEBBLE_PORT + 1000))}"
CERTFLEET_CHALLTESTSRV_PORT="${CERTFLEET_CHALLTESTSRV_PORT:-8055}"
CERTFLEET_CHALLTESTSRV_DNS_PORT="${CERTFLEET_CHALLTESTSRV_DNS_PORT:-8053}"
CERTFLEET_ACME_HTTP_PORT="${CERTFLEET_ACME_HTTP_PORT:-5002}"
CERTFLEET_ACME_TLS_PORT="${CERTFLEET_ACME_TLS_PORT:-5001}"
PEBBLE_DIR="$CERTFLEET_STACK_DIR/pebble"

pebble_packages() { echo pebble lego openssl curl perl-base; }

pebble_env() {
    echo "export CERTFLEET_ACME_DIRECTORY_URL='https://127.0.0.1:$CERTFLEET_PEBBLE_PORT/dir'"
    echo "export CERTFLEET_ACME_CA_FILE='$PEBBLE_DIR/tls/ca.pem'"
    echo "export CERTFLEET_ACME_HTTP_PORT='$CERTFLEET_ACME_HTTP_PORT'"
    echo "export CERTFLEET_ACME_DNS_SERVER='127.0.0.1:$CERTFLEET_CHALLTESTSRV_DNS_PORT'"
    echo "export CERTFLEET_CHALLTESTSRV_URL='http://127.0.0.1:$CERTFLEET_CHALLTESTSRV_PORT'"
    echo "export CERTFLEET_PEBBLE_MANAGEMENT_URL='https://127.0.0.1:$CERTFLEET_PEBBLE_MANAGEMENT_PORT'"
    echo "export CERTFLEET_PEBBLE_LOG='$PEBBLE_DIR/pebble.log'"
}

_pebble_pidof() { [ -f "$1" ] && head -n1 "$1" | tr -dc '0-9'; }
_pebble_alive() { pid_alive "$(_pebble_pidof "$PEBBLE_DIR/$1.pid" || true)"; }

pebble_running() {
    _pebble_alive pebble || return 1
    [ "${CERTFLEET_PEBBLE_SHARE_DNS:-0}" = 1 ] || _pebble_alive challtestsrv
}


# A throwaway CA and a leaf for 127.0.0.1/localhost: the Debian package ships
# no TLS test certificates. Made once per stack directory, so the file clients
# trust (CERTFLEET_ACME_CA_FILE) stays the same across restarts.
_pebble_tls() {
    local dir="$PEBBLE_DIR/tls"
    [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && [ -s "$dir/ca.pem" ] && return 0
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=CertFleet local Pebble TLS CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$dir/key.pem" -out "$dir/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' > "$dir/leaf.ext"
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 3650 -extfile "$dir/leaf.ext" -out "$dir/cert.pem" 2>/dev/null
    chmod 600 "$dir/ca.key" "$dir/key.pem"
}

_pebble_config() {
    local eab_required=false eab_json="" entry kid key
    if [ -n "${CERTFLEET_PEBBLE_EAB_KEYS:-}" ]; then
        eab_required=true
        IFS=',' read -r -a entries <<< "$CERTFLEET_PEBBLE_EAB_KEYS"
        for entry in "${entries[@]}"; do
            kid="${entry%%=*}"; key="${entry#*=}"
            eab_json="$eab_json${eab_json:+,}\"$kid\": \"$key\""
        done
    fi
    cat > "$PEBBLE_DIR/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$CERTFLEET_PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$CERTFLEET_PEBBLE_MANAGEMENT_PORT",
    "certificate": "$PEBBLE_DIR/tls/cert.pem",
    "privateKey": "$PEBBLE_DIR/tls/key.pem",
    "httpPort": $CERTFLEET_ACME_HTTP_PORT,
    "tlsPort": $CERTFLEET_ACME_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab_required,
    "externalAccountMACKeys": {${eab_json}}
  }
}
EOF
    chmod 600 "$PEBBLE_DIR/pebble-config.json"  # may hold EAB MAC keys
}

_pebble_start_challtestsrv() {
    if [ "${CERTFLEET_PEBBLE_SHARE_DNS:-0}" = 1 ]; then
        port_free "$CERTFLEET_CHALLTESTSRV_PORT" && die "CERTFLEET_PEBBLE_SHARE_DNS=1 but no challtestsrv on port $CERTFLEET_CHALLTESTSRV_PORT"
        return 0
    fi
    if _pebble_alive challtestsrv; then return 0; fi
    require_port_free "$CERTFLEET_CHALLTESTSRV_PORT" CERTFLEET_CHALLTESTSRV_PORT
    require_port_free "$CERTFLEET_CHALLTESTSRV_DNS_PORT" CERTFLEET_CHALLTESTSRV_DNS_PORT
    log "starting pebble-challtestsrv (management 127.0.0.1:$CERTFLEET_CHALLTESTSRV_PORT, DNS :$CERTFLEET_CHALLTESTSRV_DNS_PORT)"
    # Its default listeners bind 0.0.0.0 and the http-01 one would take the port
    # Pebble validates on: disable all but management and DNS.
    spawn_daemon "$PEBBLE_DIR/challtestsrv.pid" "$PEBBLE_DIR/challtestsrv.log" \
        nice -n "${CERTFLEET_PEBBLE_NICE:-0}" pebble-challtestsrv -management "127.0.0.1:$CERTFLEET_CHALLTESTSRV_PORT" \
        -dns01 "127.0.0.1:$CERTFLEET_CHALLTESTSRV_DNS_PORT" \
        -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv6 "" -defaultIPv4 127.0.0.1
    wait_daemon_ready pebble-challtestsrv "$PEBBLE_DIR" challtestsrv bash -c "exec 3<>/dev/tcp/127.0.0.1/$CERTFLEET_CHALLTESTSRV_PORT"
}

pebble_start() {
    mkdir -p "$PEBBLE_DIR"
    _pebble_start_challtestsrv
    if _pebble_alive pebble; then log "pebble already running (pid $(_pebble_pidof "$PEBBLE_DIR/pebble.pid"))"; return 0; fi
    require_port_free "$CERTFLEET_PEBBLE_PORT" CERTFLEET_PEBBLE_PORT
    require_port_free "$CERTFLEET_PEBBLE_MANAGEMENT_PORT" CERTFLEET_PEBBLE_MANAGEMENT_PORT
    _pebble_tls
    _pebble_config
    log "starting pebble on https://127.0.0.1:$CERTFLEET_PEBBLE_PORT (http-01 checks on :$CERTFLEET_ACME_HTTP_PORT)"
    PEBBLE_VA_NOSLEEP="${PEBBLE_VA_NOSLEEP:-1}" spawn_daemon "$PEBBLE_DIR/pebble.pid" "$PEBBLE_DIR/pebble.log" \
        nice -n "${CERTFLEET_PEBBLE_NICE:-0}" pebble -config "$PEBBLE_DIR/pebble-config.json" -dnsserver "${CERTFLEET_PEBBLE_DNS_SERVER:-127.0.0.1:$CERTFLEET_CHALLTESTSRV_DNS_PORT}"
    wait_daemon_ready pebble "$PEBBLE_DIR" pebble curl -sf --cacert "$PEBBLE_DIR/tls/ca.pem" "https://127.0.0.1:$CERTFLEET_PEBBLE_PORT/dir"
}

pebble_stop() {
    if _pebble_alive pebble; then log "stopping pebble (pid $(_pebble_pidof "$PEBBLE_DIR/pebble.pid"))"; fi
    stop_pidfile "$PEBBLE_DIR/pebble.pid" TERM 10
    # acme2certifier of the same stack resolves through this challtestsrv: it stays while that
    # runs (so `ctl stop pebble` takes one CA down, not the other's DNS); `down` stops it last.
    if pid_alive "$(head -n1 "$CERTFLEET_STACK_DIR/acme2certifier/acme2certifier.pid" 2>/dev/null | tr -dc '0-9')"; then
        log "pebble-challtestsrv stays up for acme2certifier"
        return 0
    fi
    stop_pidfile "$PEBBLE_DIR/challtestsrv.pid" TERM 10
}
