# acme2certifier (a second, independent ACME server implementation) as plain processes,
# data and logs under $CERTFLEET_STACK_DIR/acme2certifier: the PyPI package in the git-ignored
# .venv-acme2certifier, served over HTTPS by acme2certifier_server.py (stdlib WSGI), signing
# with its openssl_ca_handler from an intermediate CA made here, SQLite ("wsgi") database.
# Part of the default stack (after pebble, whose challtestsrv it shares); tests start private ones.
# Clients beware: its contact check wants 3+ characters before the domain's last dot
# (mailto:a@b.test is invalidContact, mailto:ops@certfleet-test.com is fine).
# Every port is overridable so a test can run a private instance next to the shared one:
#   CERTFLEET_A2C_PORT               ACME HTTPS listener, directory at /directory (default 14100)
#   CERTFLEET_A2C_HTTP_PORT          where http-01 is validated on 127.0.0.1 (default CERTFLEET_ACME_HTTP_PORT, 5002)
#   CERTFLEET_A2C_DNS_PORT           a private pebble-challtestsrv's DNS: every name is 127.0.0.1 (default: share
#                                    Pebble's, CERTFLEET_CHALLTESTSRV_DNS_PORT, with CERTFLEET_A2C_SHARE_DNS=1)
#   CERTFLEET_A2C_CHALLTESTSRV_PORT  that challtestsrv's management API, dns-01 TXT records (default A2C_PORT + 55)
#   CERTFLEET_A2C_VALIDATION=0       accept every challenge unchecked (acme2certifier's challenge_validation_disable)
#   CERTFLEET_A2C_PROFILES           JSON {"name": "description"}: advertised in meta.profiles, newOrder's
#                                    profile checked against it (openssl_ca_handler issues the same certificate)
#   CERTFLEET_A2C_EAB_KEYS           "kid=base64urlkey,…": when set, acme2certifier requires EAB
#   CERTFLEET_A2C_RENEWAL_THRESHOLD  ARI: the suggested window starts at this % of the lifetime (default 85)
#   CERTFLEET_A2C_RENEWAL_WINDOW     ARI: the window lasts at most this many seconds (default 0: until notAfter)
#   CERTFLEET_A2C_RENEWAL_FORCE      ARI: True suggests renewing now (a window reaching a year back, as after a revocation)
#   CERTFLEET_A2C_RETRY_AFTER        ARI: the Retry-After of its answers, seconds (default 86400)
CERTFLEET_A2C_PORT="${CERTFLEET_A2C_PORT:-14100}"
CERTFLEET_A2C_HTTP_PORT="${CERTFLEET_A2C_HTTP_PORT:-${CERTFLEET_ACME_HTTP_PORT:-5002}}"
# In the shared stack it resolves through Pebble's challtestsrv (started before it), so the
# dns-01 records the workers write reach both CAs; a private instance (a test names its own
# DNS port) runs a challtestsrv of its own.
if [ -z "${CERTFLEET_A2C_DNS_PORT:-}" ]; then
    CERTFLEET_A2C_SHARE_DNS="${CERTFLEET_A2C_SHARE_DNS:-1}"
    CERTFLEET_A2C_DNS_PORT="${CERTFLEET_CHALLTESTSRV_DNS_PORT:-8053}"
    CERTFLEET_A2C_CHALLTESTSRV_PORT="${CERTFLEET_A2C_CHALLTESTSRV_PORT:-${CERTFLEET_CHALLTESTSRV_PORT:-8055}}"
fi
CERTFLEET_A2C_CHALLTESTSRV_PORT="${CERTFLEET_A2C_CHALLTESTSRV_PORT:-$((CERTFLEET_A2C_PORT + 55))}"
A2C_DIR="$CERTFLEET_STACK_DIR/acme2certifier"
A2C_PACKAGE="acme2certifier==0.46.3"
A2C_VENV="$CERTFLEET_ROOT/.venv-acme2certifier"

# pebble: its pebble-challtestsrv is the test DNS server.
acme2certifier_packages() { echo python3 python3-venv openssl curl perl-base pebble; }

acme2certifier_env() {
    echo "export CERTFLEET_A2C_DIRECTORY_URL='https://127.0.0.1:$CERTFLEET_A2C_PORT/directory'"
    echo "export CERTFLEET_A2C_CA_FILE='$A2C_DIR/ca/root.pem'"
    echo "export CERTFLEET_A2C_HTTP_PORT='$CERTFLEET_A2C_HTTP_PORT'"
    echo "export CERTFLEET_A2C_DNS_SERVER='127.0.0.1:$CERTFLEET_A2C_DNS_PORT'"
    echo "export CERTFLEET_A2C_CHALLTESTSRV_URL='http://127.0.0.1:$CERTFLEET_A2C_CHALLTESTSRV_PORT'"
    echo "export CERTFLEET_A2C_LOG='$A2C_DIR/acme2certifier.log'"
    # Accounts may be registered at it (besides Let's Encrypt's), and its HTTPS is trusted.
    echo "export CERTFLEET_ACME_DIRECTORIES='https://acme-v02.api.letsencrypt.org/directory,https://acme-staging-v02.api.letsencrypt.org/directory,https://127.0.0.1:$CERTFLEET_A2C_PORT/directory'"
    if [ -s "$(_a2c_trust_bundle)" ]; then echo "export CERTFLEET_ACME_CA_FILE='$(_a2c_trust_bundle)'"; fi
}

_a2c_pidof() { [ -f "$A2C_DIR/$1.pid" ] && head -n1 "$A2C_DIR/$1.pid" | tr -dc '0-9'; }
_a2c_alive() { pid_alive "$(_a2c_pidof "$1" || true)"; }

acme2certifier_running() { _a2c_alive acme2certifier && { _a2c_shares_dns || _a2c_alive challtestsrv; }; }

_a2c_shares_dns() { [ "${CERTFLEET_A2C_SHARE_DNS:-0}" = 1 ]; }

# The trust file for both local CAs' HTTPS (Pebble's TLS CA and acme2certifier's root), so one
# CERTFLEET_ACME_CA_FILE serves a project whose CA chain holds both.
_a2c_trust_bundle() { echo "$CERTFLEET_STACK_DIR/acme-ca-bundle.pem"; }

# The virtual environment, built like ensure_python_tools builds .venv-tools: under a file
# lock (parallel callers build it once), the marker written last (a half-built one is rebuilt).
_a2c_venv_ready() { [ -x "$A2C_VENV/bin/python3" ] && [ "$(cat "$A2C_VENV/.complete" 2>/dev/null)" = "$A2C_PACKAGE" ]; }

_a2c_venv() {
    _a2c_venv_ready && return 0
    local lock
    mkdir -p "$CERTFLEET_ROOT/.stack"
    exec {lock}>"$CERTFLEET_ROOT/.stack/acme2certifier-venv.lock"
    flock "$lock"
    if ! _a2c_venv_ready; then
        log "preparing $A2C_VENV ($A2C_PACKAGE)"
        rm -rf "$A2C_VENV"
        python3 -m venv "$A2C_VENV"
        "$A2C_VENV/bin/python3" -m pip install --quiet --disable-pip-version-check "$A2C_PACKAGE" >&2
        "$A2C_VENV/bin/python3" -c 'import acme2certifier.cahandlers.openssl_ca_handler, dns.resolver'
        echo "$A2C_PACKAGE" > "$A2C_VENV/.complete"
    fi
    exec {lock}>&-
}

# One throwaway root signs both the HTTPS listener's certificate and the intermediate
# acme2certifier issues from, so CERTFLEET_A2C_CA_FILE verifies either. Made once per
# stack directory, so the file clients trust stays the same across restarts.
_a2c_ca() {
    local dir="$A2C_DIR/ca" name
    [ -s "$dir/intermediate.pem" ] && [ -s "$dir/tls.pem" ] && return 0
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=CertFleet local acme2certifier root" -keyout "$dir/root.key" -out "$dir/root.pem" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$dir/intermediate.ext"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' > "$dir/tls.ext"
    for name in intermediate tls; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=CertFleet local acme2certifier $name" \
            -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
        openssl x509 -req -in "$dir/$name.csr" -CA "$dir/root.pem" -CAkey "$dir/root.key" -CAcreateserial \
            -days 3650 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
    done
    chmod 600 "$dir"/*.key
}

# Challenges are really validated, the way Pebble does it here: names resolve through the
# challtestsrv (every name is 127.0.0.1, dns-01 TXT records through its API) and http-01 is
# fetched from 127.0.0.1:HTTP_PORT. acme2certifier has options for neither port:
# acme2certifier_server.py patches both in (its comments say how, and why not proxy_server_list).
# tls-alpn-01 would be checked on port 443 only, so it is not offered.
_a2c_config() {
    local disable=False eab="" entry entries
    [ "$1" = 1 ] && disable=True
    if [ -n "${CERTFLEET_A2C_EAB_KEYS:-}" ]; then
        IFS=',' read -r -a entries <<< "$CERTFLEET_A2C_EAB_KEYS"
        for entry in "${entries[@]}"; do eab="$eab${eab:+,}\"${entry%%=*}\": \"${entry#*=}\""; done
        (umask 077; echo "{$eab}" > "$A2C_DIR/eab_keys.json")
        eab="[EABhandler]
eab_handler_module: acme2certifier.eabhandlers.json_handler
key_file: $A2C_DIR/eab_keys.json"
    fi
    cat > "$A2C_DIR/acme_srv.cfg" <<EOF
[DEFAULT]
debug: False
dns_server_list: ["127.0.0.1"]

[CAhandler]
handler_module: acme2certifier.cahandlers.openssl_ca_handler
issuing_ca_key: $A2C_DIR/ca/intermediate.key
issuing_ca_cert: $A2C_DIR/ca/intermediate.pem
issuing_ca_crl: $A2C_DIR/ca/crl.pem
cert_save_path: $A2C_DIR/certs
cert_validity_days: 90

[DBhandler]
handler: wsgi
dbfile: $A2C_DIR/acme_srv.db

[Challenge]
challenge_validation_disable: $disable
tls_alpn_01_support: False

[Order]
${CERTFLEET_A2C_PROFILES:+profiles: $CERTFLEET_A2C_PROFILES}

[Renewalinfo]
renewalthreshold_pctg: ${CERTFLEET_A2C_RENEWAL_THRESHOLD:-85}
renewal_window_duration: ${CERTFLEET_A2C_RENEWAL_WINDOW:-0}
renewal_force: ${CERTFLEET_A2C_RENEWAL_FORCE:-False}
retry_after_timeout: ${CERTFLEET_A2C_RETRY_AFTER:-86400}

$eab
EOF
}

acme2certifier_start() {
    local unchecked=0
    [ "${CERTFLEET_A2C_VALIDATION:-1}" = 0 ] && unchecked=1
    mkdir -p "$A2C_DIR/certs"
    _a2c_venv
    if _a2c_shares_dns; then
        (exec 3<>"/dev/tcp/127.0.0.1/$CERTFLEET_A2C_DNS_PORT") 2>/dev/null || true
        port_free "$CERTFLEET_A2C_CHALLTESTSRV_PORT" &&
            die "acme2certifier shares Pebble's challtestsrv, which does not answer on :$CERTFLEET_A2C_CHALLTESTSRV_PORT (start pebble first)"
    elif ! _a2c_alive challtestsrv; then
        require_port_free "$CERTFLEET_A2C_CHALLTESTSRV_PORT" CERTFLEET_A2C_CHALLTESTSRV_PORT
        require_port_free "$CERTFLEET_A2C_DNS_PORT" CERTFLEET_A2C_DNS_PORT
        # Only DNS and management: its default http-01 listener would take ports we validate on.
        spawn_daemon "$A2C_DIR/challtestsrv.pid" "$A2C_DIR/challtestsrv.log" \
            pebble-challtestsrv -management "127.0.0.1:$CERTFLEET_A2C_CHALLTESTSRV_PORT" \
            -dns01 "127.0.0.1:$CERTFLEET_A2C_DNS_PORT" \
            -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv6 "" -defaultIPv4 127.0.0.1
        wait_daemon_ready pebble-challtestsrv "$A2C_DIR" challtestsrv bash -c "exec 3<>/dev/tcp/127.0.0.1/$CERTFLEET_A2C_CHALLTESTSRV_PORT"
    fi
    if _a2c_alive acme2certifier; then log "acme2certifier already running (pid $(_a2c_pidof acme2certifier))"; return 0; fi
    require_port_free "$CERTFLEET_A2C_PORT" CERTFLEET_A2C_PORT
    _a2c_ca
    _a2c_config "$unchecked"
    log "starting acme2certifier on https://127.0.0.1:$CERTFLEET_A2C_PORT/directory (http-01 checks on :$CERTFLEET_A2C_HTTP_PORT)"
    # The risk switch only lets the config's challenge_validation_disable take effect.
    spawn_daemon "$A2C_DIR/acme2certifier.pid" "$A2C_DIR/acme2certifier.log" \
        env ACME_SRV_CONFIGFILE="$A2C_DIR/acme_srv.cfg" ACME2CERTIFIER_I_KNOW_THE_RISK="$unchecked" \
        "$A2C_VENV/bin/python3" "$CERTFLEET_ROOT/deploy/local/services/acme2certifier_server.py" \
        "$CERTFLEET_A2C_PORT" "$A2C_DIR/ca/tls.pem" "$A2C_DIR/ca/tls.key" \
        "$CERTFLEET_A2C_DNS_PORT" "$CERTFLEET_A2C_HTTP_PORT"
    wait_daemon_ready acme2certifier "$A2C_DIR" acme2certifier \
        curl -sf --cacert "$A2C_DIR/ca/root.pem" "https://127.0.0.1:$CERTFLEET_A2C_PORT/directory"
    if [ -s "$CERTFLEET_STACK_DIR/pebble/tls/ca.pem" ]; then
        cat "$CERTFLEET_STACK_DIR/pebble/tls/ca.pem" "$A2C_DIR/ca/root.pem" > "$(_a2c_trust_bundle)"
    fi
}

acme2certifier_stop() {
    if _a2c_alive acme2certifier; then log "stopping acme2certifier (pid $(_a2c_pidof acme2certifier))"; fi
    stop_pidfile "$A2C_DIR/acme2certifier.pid" TERM 10
    if _a2c_shares_dns; then
        # The last user of Pebble's challtestsrv stops it when Pebble itself is already down.
        pid_alive "$(head -n1 "$CERTFLEET_STACK_DIR/pebble/pebble.pid" 2>/dev/null | tr -dc '0-9')" ||
            stop_pidfile "$CERTFLEET_STACK_DIR/pebble/challtestsrv.pid" TERM 10
    else
        stop_pidfile "$A2C_DIR/challtestsrv.pid" TERM 10
    fi
}
