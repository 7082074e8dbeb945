# Knot DNS as a plain authoritative server for a test zone that accepts RFC 2136
# updates signed with TSIG; data and logs under $CERTFLEET_STACK_DIR/knot.
# Not part of the default stack: tests start private instances (ctl start knot).
#   CERTFLEET_KNOT_PORT        DNS (UDP + TCP) on 127.0.0.1 (default 8253)
#   CERTFLEET_KNOT_ZONE        the test zone (default example.test)
#   CERTFLEET_KNOT_TSIG_NAME   the TSIG key's name (default certfleet-key)
#   CERTFLEET_KNOT_TSIG_ALG    hmac-sha256 (default) or hmac-sha512
#   CERTFLEET_KNOT_TSIG_SECRET base64 key; made once per stack directory when unset
#   CERTFLEET_KNOT_EXTRA       extra zone-file lines
CERTFLEET_KNOT_PORT="${CERTFLEET_KNOT_PORT:-8253}"
CERTFLEET_KNOT_ZONE="${CERTFLEET_KNOT_ZONE:-example.test}"
CERTFLEET_KNOT_TSIG_NAME="${CERTFLEET_KNOT_TSIG_NAME:-certfleet-key}"
CERTFLEET_KNOT_TSIG_ALG="${CERTFLEET_KNOT_TSIG_ALG:-hmac-sha256}"
KNOT_DIR="$CERTFLEET_STACK_DIR/knot"

knot_packages() { echo knot knot-dnsutils openssl; }

_knot_secret() { tsig_secret "$KNOT_DIR" "${CERTFLEET_KNOT_TSIG_SECRET:-}"; }

knot_env() {
    rfc2136_env KNOT "$KNOT_DIR" "$CERTFLEET_KNOT_PORT" "$CERTFLEET_KNOT_ZONE" "$CERTFLEET_KNOT_TSIG_NAME" "$CERTFLEET_KNOT_TSIG_ALG"
}

_knot_pid() { [ -f "$KNOT_DIR/knotd.pid" ] && head -n1 "$KNOT_DIR/knotd.pid" | tr -dc '0-9'; }
knot_running() { pid_alive "$(_knot_pid || true)"; }

knot_start() {
    if knot_running; then log "knot already running (pid $(_knot_pid))"; return 0; fi
    mkdir -p "$KNOT_DIR/db"
    require_port_free "$CERTFLEET_KNOT_PORT" CERTFLEET_KNOT_PORT
    local secret zone="$CERTFLEET_KNOT_ZONE"; secret="$(_knot_secret)"
    test_zone_file "$KNOT_DIR/$zone.zone" "$zone" "${CERTFLEET_KNOT_EXTRA:-}"
    rm -rf "$KNOT_DIR/db"/*
    cat > "$KNOT_DIR/knot.conf" <<CONF
server:
    rundir: "$KNOT_DIR"
    listen: 127.0.0.1@$CERTFLEET_KNOT_PORT
log:
  - target: "$KNOT_DIR/knot.log"
    any: info
database:
    storage: "$KNOT_DIR/db"
control:
    listen: "$KNOT_DIR/knot.sock"
key:
  - id: $CERTFLEET_KNOT_TSIG_NAME
    algorithm: $CERTFLEET_KNOT_TSIG_ALG
    secret: $secret
acl:
  - id: certfleet_update
    key: $CERTFLEET_KNOT_TSIG_NAME
    action: update
template:
  - id: default
    storage: "$KNOT_DIR"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
zone:
  - domain: $zone
    file: "$zone.zone"
    acl: certfleet_update
CONF
    chmod 600 "$KNOT_DIR/knot.conf"
    log "starting knot on 127.0.0.1:$CERTFLEET_KNOT_PORT (zone $zone)"
    spawn_daemon "$KNOT_DIR/knotd.pid" "$KNOT_DIR/knotd.out" knotd -c "$KNOT_DIR/knot.conf"
    wait_daemon_ready knot "$KNOT_DIR" knotd \
        bash -c "kdig +short +time=1 +retry=0 -p $CERTFLEET_KNOT_PORT @127.0.0.1 SOA $zone | grep -q ."
    # Answering queries is not accepting updates (the first UPDATE after the load is dropped):
    # ready means a signed no-op UPDATE (prerequisite only) is answered.
    printf 'server 127.0.0.1 %s\nzone %s.\nprereq yxdomain %s.\nsend\nanswer\n' "$CERTFLEET_KNOT_PORT" "$zone" "$zone" > "$KNOT_DIR/ready.knsupdate"
    wait_daemon_ready knot "$KNOT_DIR" knotd \
        bash -c "knsupdate -t 1 -r 0 -y '$CERTFLEET_KNOT_TSIG_ALG:$CERTFLEET_KNOT_TSIG_NAME:$secret' '$KNOT_DIR/ready.knsupdate' 2>&1 | grep -q NOERROR"
}

knot_stop() {
    if knot_running; then log "stopping knot (pid $(_knot_pid))"; fi
    stop_pidfile "$KNOT_DIR/knotd.pid" TERM 10
}
