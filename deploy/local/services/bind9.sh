# BIND 9 as a plain authoritative server for a test zone that accepts RFC 2136
# updates signed with TSIG; data and logs under $CERTFLEET_STACK_DIR/bind9.
# Not part of the default stack: tests start private instances (ctl start bind9).
#   CERTFLEET_BIND9_PORT       DNS (UDP + TCP) on 127.0.0.1 (default 8153)
#   CERTFLEET_BIND9_ZONE       the test zone (default example.test)
#   CERTFLEET_BIND9_TSIG_NAME  the TSIG key's name (default certfleet-key)
#   CERTFLEET_BIND9_TSIG_ALG   hmac-sha256 (default) or hmac-sha512
#   CERTFLEET_BIND9_TSIG_SECRET base64 key; made once per stack directory when unset
#   CERTFLEET_BIND9_EXTRA      extra zone-file lines (e.g. CAA or CNAME records)
CERTFLEET_BIND9_PORT="${CERTFLEET_BIND9_PORT:-8153}"
CERTFLEET_BIND9_ZONE="${CERTFLEET_BIND9_ZONE:-example.test}"
CERTFLEET_BIND9_TSIG_NAME="${CERTFLEET_BIND9_TSIG_NAME:-certfleet-key}"
CERTFLEET_BIND9_TSIG_ALG="${CERTFLEET_BIND9_TSIG_ALG:-hmac-sha256}"
BIND9_DIR="$CERTFLEET_STACK_DIR/bind9"

bind9_packages() { echo bind9 bind9-dnsutils openssl; }

_bind9_secret() { tsig_secret "$BIND9_DIR" "${CERTFLEET_BIND9_TSIG_SECRET:-}"; }

bind9_env() {
    rfc2136_env BIND9 "$BIND9_DIR" "$CERTFLEET_BIND9_PORT" "$CERTFLEET_BIND9_ZONE" "$CERTFLEET_BIND9_TSIG_NAME" "$CERTFLEET_BIND9_TSIG_ALG"
}

_bind9_pid() { [ -f "$BIND9_DIR/named.pid" ] && head -n1 "$BIND9_DIR/named.pid" | tr -dc '0-9'; }
bind9_running() { pid_alive "$(_bind9_pid || true)"; }

_bind9_zone() {
    test_zone_file "$BIND9_DIR/$CERTFLEET_BIND9_ZONE.zone" "$CERTFLEET_BIND9_ZONE" "${CERTFLEET_BIND9_EXTRA:-}"
    rm -f "$BIND9_DIR/$CERTFLEET_BIND9_ZONE.zone.jnl"
}

bind9_start() {
    if bind9_running; then log "bind9 already running (pid $(_bind9_pid))"; return 0; fi
    mkdir -p "$BIND9_DIR"
    require_port_free "$CERTFLEET_BIND9_PORT" CERTFLEET_BIND9_PORT
    local secret; secret="$(_bind9_secret)"
    _bind9_zone
    cat > "$BIND9_DIR/named.conf" <<CONF
key "$CERTFLEET_BIND9_TSIG_NAME" { algorithm $CERTFLEET_BIND9_TSIG_ALG; secret "$secret"; };
options {
    directory "$BIND9_DIR";
    pid-file none;
    listen-on port $CERTFLEET_BIND9_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer { none; };
};
controls { };
logging { channel main { file "$BIND9_DIR/named.log"; severity info; print-time yes; }; category default { main; }; category update { main; }; };
zone "$CERTFLEET_BIND9_ZONE" { type primary; file "$BIND9_DIR/$CERTFLEET_BIND9_ZONE.zone"; update-policy { grant $CERTFLEET_BIND9_TSIG_NAME zonesub ANY; }; };
CONF
    chmod 600 "$BIND9_DIR/named.conf"
    log "starting bind9 on 127.0.0.1:$CERTFLEET_BIND9_PORT (zone $CERTFLEET_BIND9_ZONE)"
    # -f: foreground, so the pid spawn_daemon records is named's own; -u root keeps the data dir writable.
    spawn_daemon "$BIND9_DIR/named.pid" "$BIND9_DIR/named.out" named -f -u root -c "$BIND9_DIR/named.conf"
    wait_daemon_ready bind9 "$BIND9_DIR" named \
        bash -c "dig +short +time=1 +tries=1 -p $CERTFLEET_BIND9_PORT @127.0.0.1 SOA $CERTFLEET_BIND9_ZONE | grep -q ."
    # Answering queries is not accepting updates: the first UPDATE right after the zone loads gets
    # SERVFAIL. Ready means a signed no-op UPDATE (prerequisite only) succeeds.
    printf 'server 127.0.0.1 %s\nzone %s.\nprereq yxdomain %s.\nsend\n' "$CERTFLEET_BIND9_PORT" "$CERTFLEET_BIND9_ZONE" \
        "$CERTFLEET_BIND9_ZONE" > "$BIND9_DIR/ready.nsupdate"
    wait_daemon_ready bind9 "$BIND9_DIR" named \
        nsupdate -t 2 -y "$CERTFLEET_BIND9_TSIG_ALG:$CERTFLEET_BIND9_TSIG_NAME:$secret" "$BIND9_DIR/ready.nsupdate"
}

bind9_stop() {
    if bind9_running; then log "stopping bind9 (pid $(_bind9_pid))"; fi
    stop_pidfile "$BIND9_DIR/named.pid" TERM 10
}
