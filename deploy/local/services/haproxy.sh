# HAProxy 2.6 (Debian) as a plain process with one TLS frontend and an admin stats socket,
# the target of HAProxy runtime API deliveries (issue 22): certificates change through
# `set ssl cert` / `commit ssl cert` on the socket, with no reload.
# Data, config and logs under $CERTFLEET_STACK_DIR/haproxy.
#   CERTFLEET_HAPROXY_PORT    TLS frontend on 127.0.0.1 (default 8444)
#   CERTFLEET_HAPROXY_CERT    the crt file of the bind line (chain + key; default
#                             $CERTFLEET_STACK_DIR/haproxy/site.pem, a self-signed placeholder)
# The socket is $CERTFLEET_STACK_DIR/haproxy/admin.sock (printed by `ctl env haproxy`).
CERTFLEET_HAPROXY_PORT="${CERTFLEET_HAPROXY_PORT:-8444}"
HAPROXY_DIR="$CERTFLEET_STACK_DIR/haproxy"
CERTFLEET_HAPROXY_CERT="${CERTFLEET_HAPROXY_CERT:-$HAPROXY_DIR/site.pem}"

haproxy_packages() { echo haproxy openssl; }

haproxy_env() {
    echo "export CERTFLEET_HAPROXY_PORT='$CERTFLEET_HAPROXY_PORT'"
    echo "export CERTFLEET_HAPROXY_CERT='$CERTFLEET_HAPROXY_CERT'"
    echo "export CERTFLEET_HAPROXY_SOCKET='$HAPROXY_DIR/admin.sock'"
}

haproxy_running() { pid_alive "$( [ -f "$HAPROXY_DIR/haproxy.pid" ] && head -n1 "$HAPROXY_DIR/haproxy.pid" | tr -dc '0-9' || true)"; }

haproxy_start() {
    haproxy_running && return 0
    require_port_free "$CERTFLEET_HAPROXY_PORT" CERTFLEET_HAPROXY_PORT
    mkdir -p "$HAPROXY_DIR" "$(dirname "$CERTFLEET_HAPROXY_CERT")"
    if [ ! -s "$CERTFLEET_HAPROXY_CERT" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=placeholder" \
            -keyout "$HAPROXY_DIR/placeholder.key" -out "$HAPROXY_DIR/placeholder.pem" 2>/dev/null
        cat "$HAPROXY_DIR/placeholder.pem" "$HAPROXY_DIR/placeholder.key" > "$CERTFLEET_HAPROXY_CERT"
        chmod 600 "$CERTFLEET_HAPROXY_CERT"
        rm -f "$HAPROXY_DIR/placeholder.key" "$HAPROXY_DIR/placeholder.pem"
    fi
    cat > "$HAPROXY_DIR/haproxy.cfg" <<CONF
global
    stats socket $HAPROXY_DIR/admin.sock mode 600 level admin
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend tls
    bind 127.0.0.1:$CERTFLEET_HAPROXY_PORT ssl crt $CERTFLEET_HAPROXY_CERT
    http-request return status 200 content-type text/plain string "ok"
CONF
    rm -f "$HAPROXY_DIR/admin.sock"
    spawn_daemon "$HAPROXY_DIR/haproxy.pid" "$HAPROXY_DIR/haproxy.log" /usr/sbin/haproxy -f "$HAPROXY_DIR/haproxy.cfg" -db
    wait_daemon_ready haproxy "$HAPROXY_DIR" haproxy test -S "$HAPROXY_DIR/admin.sock"
    log "haproxy on 127.0.0.1:$CERTFLEET_HAPROXY_PORT (runtime API: $HAPROXY_DIR/admin.sock)"
}

haproxy_stop() {
    stop_pidfile "$HAPROXY_DIR/haproxy.pid" TERM 10
    rm -f "$HAPROXY_DIR/admin.sock"
}
