# RabbitMQ 3.10 as a plain root process with its own epmd, node name, ports,
# data, logs and Erlang cookie under $CERTFLEET_STACK_DIR/rabbitmq.
# Every port is overridable so tests can run a private broker next to the shared one:
#   CERTFLEET_AMQP_PORT       AMQP listener            (default 55672)
#   CERTFLEET_AMQP_DIST_PORT  Erlang distribution port (default AMQP port + 1;
#                             RabbitMQ's own default, port + 20000, can exceed 65535)
#   CERTFLEET_AMQP_EPMD_PORT  the epmd this script starts (default AMQP port + 2),
#                             so the stack never shares or kills a system epmd
#   CERTFLEET_AMQPS_PORT      optional TLS listener; needs CERTFLEET_AMQP_TLS_DIR with
#                             ca.pem, server.pem and server.key (PEM)
CERTFLEET_AMQP_PORT="${CERTFLEET_AMQP_PORT:-55672}"
CERTFLEET_AMQP_DIST_PORT="${CERTFLEET_AMQP_DIST_PORT:-$((CERTFLEET_AMQP_PORT + 1))}"
CERTFLEET_AMQP_EPMD_PORT="${CERTFLEET_AMQP_EPMD_PORT:-$((CERTFLEET_AMQP_PORT + 2))}"
CERTFLEET_RABBITMQ_BIN="${CERTFLEET_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
CERTFLEET_AMQPS_PORT="${CERTFLEET_AMQPS_PORT:-}"
CERTFLEET_AMQP_TLS_DIR="${CERTFLEET_AMQP_TLS_DIR:-}"
RMQ_DIR="$CERTFLEET_STACK_DIR/rabbitmq"
RMQ_NODE="certfleet-$CERTFLEET_AMQP_PORT@localhost"
# The Erlang cookie's home and the epmd pid file; a cluster's nodes share both
# (services/rabbitmq_cluster.sh points them at the cluster directory).
RMQ_HOME="$RMQ_DIR/home"
RMQ_EPMD_PIDFILE="$RMQ_DIR/epmd.pid"

rabbitmq_packages() { echo rabbitmq-server; }

rabbitmq_env() {
    echo "export CERTFLEET_AMQP_URL='amqp://guest:guest@127.0.0.1:$CERTFLEET_AMQP_PORT/'"
    echo "export CERTFLEET_AMQP_PORT='$CERTFLEET_AMQP_PORT'"
    if [ -n "$CERTFLEET_AMQPS_PORT" ]; then
        echo "export CERTFLEET_AMQPS_URL='amqps://guest:guest@localhost:$CERTFLEET_AMQPS_PORT/'"
    fi
}

_rabbitmq_pidof() { [ -f "$1" ] && head -n1 "$1" | tr -dc '0-9'; }

rabbitmq_running() { pid_alive "$(_rabbitmq_pidof "$RMQ_DIR/rabbitmq.pid" || true)"; }

# Runs a RabbitMQ program with the node's environment (replaces the shell; use a subshell). The /usr/sbin wrappers
# switch to the rabbitmq user, so the programs under /usr/lib/rabbitmq/bin are called directly.
_rabbitmq_exec() {
    exec_daemon env HOME="$RMQ_HOME" \
        RABBITMQ_NODENAME="$RMQ_NODE" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$CERTFLEET_AMQP_PORT" \
        RABBITMQ_DIST_PORT="$CERTFLEET_AMQP_DIST_PORT" \
        RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf" \
        RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf" \
        RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia" \
        RABBITMQ_LOG_BASE="$RMQ_DIR/log" \
        RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        ERL_EPMD_PORT="$CERTFLEET_AMQP_EPMD_PORT" \
        "$@"
}

_rabbitmq_prepare_dir() {
    mkdir -p "$RMQ_HOME" "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
    chmod 700 "$RMQ_HOME"
    # Server and CLI both read the cookie from $HOME; a private one keeps
    # instances from authenticating against each other by accident.
    if [ ! -s "$RMQ_HOME/.erlang.cookie" ]; then
        head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$RMQ_HOME/.erlang.cookie"
        chmod 400 "$RMQ_HOME/.erlang.cookie"
    fi
    : > "$RMQ_DIR/rabbitmq-env.conf"   # empty: skip /etc/rabbitmq/rabbitmq-env.conf
    echo "[]." > "$RMQ_DIR/enabled_plugins"
    cat > "$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$CERTFLEET_AMQP_PORT
# Tests and local tools log in as guest over 127.0.0.1 only; the listener is loopback-bound.
loopback_users = none
EOF
    if [ -n "$CERTFLEET_AMQPS_PORT" ]; then
        local tls="$CERTFLEET_AMQP_TLS_DIR"
        [ -f "$tls/ca.pem" ] && [ -f "$tls/server.pem" ] && [ -f "$tls/server.key" ] \
            || die "CERTFLEET_AMQPS_PORT needs ca.pem, server.pem, server.key in CERTFLEET_AMQP_TLS_DIR"
        cat >> "$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.ssl.default = 127.0.0.1:$CERTFLEET_AMQPS_PORT
ssl_options.cacertfile = $tls/ca.pem
ssl_options.certfile = $tls/server.pem
ssl_options.keyfile = $tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
    fi
}

_rabbitmq_start_epmd() {
    local pid
    pid="$(_rabbitmq_pidof "$RMQ_EPMD_PIDFILE" || true)"
    pid_alive "$pid" && return 0
    require_port_free "$CERTFLEET_AMQP_EPMD_PORT" CERTFLEET_AMQP_EPMD_PORT
    # Started in the foreground (not -daemon) so $! is epmd's own pid; stdio to
    # files so a caller reading our output is not held open by it.
    ( exec_daemon epmd -address 127.0.0.1 -port "$CERTFLEET_AMQP_EPMD_PORT" \
        </dev/null >"$RMQ_DIR/log/epmd.log" 2>&1 ) &
    echo $! > "$RMQ_EPMD_PIDFILE"
    local i
    for i in $(seq 1 50); do
        port_free "$CERTFLEET_AMQP_EPMD_PORT" || return 0
        sleep 0.1
    done
    die "epmd did not listen on 127.0.0.1:$CERTFLEET_AMQP_EPMD_PORT"
}

rabbitmq_start() {
    if rabbitmq_running; then log "rabbitmq already running (pid $(_rabbitmq_pidof "$RMQ_DIR/rabbitmq.pid"))"; return 0; fi
    _rabbitmq_prepare_dir
    require_port_free "$CERTFLEET_AMQP_PORT" CERTFLEET_AMQP_PORT
    require_port_free "$CERTFLEET_AMQP_DIST_PORT" CERTFLEET_AMQP_DIST_PORT
    [ -z "$CERTFLEET_AMQPS_PORT" ] || require_port_free "$CERTFLEET_AMQPS_PORT" CERTFLEET_AMQPS_PORT
    _rabbitmq_start_epmd
    rm -f "$RMQ_DIR/rabbitmq.pid"
    log "starting rabbitmq $RMQ_NODE on 127.0.0.1:$CERTFLEET_AMQP_PORT"
    ( _rabbitmq_exec "$CERTFLEET_RABBITMQ_BIN/rabbitmq-server" \
        </dev/null >"$RMQ_DIR/log/server.out" 2>&1 ) &
    # `wait` (unlike await_startup) tolerates a node that has not registered yet.
    if ! ( _rabbitmq_exec "$CERTFLEET_RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" wait "$RMQ_DIR/rabbitmq.pid" --timeout 120 \
        >"$RMQ_DIR/log/wait.log" 2>&1 ); then
        cat "$RMQ_DIR/log/wait.log" >&2
        tail -n 30 "$RMQ_DIR/log/server.out" >&2
        die "rabbitmq did not start"
    fi
}

# Stops the node only (a cluster's other nodes still need the shared epmd).
_rabbitmq_stop_node() {
    local pid
    pid="$(_rabbitmq_pidof "$RMQ_DIR/rabbitmq.pid" || true)"
    if pid_alive "$pid"; then
        log "stopping rabbitmq $RMQ_NODE (pid $pid)"
        stop_pidfile "$RMQ_DIR/rabbitmq.pid" TERM 60
    fi
    rm -f "$RMQ_DIR/rabbitmq.pid"
}

rabbitmq_stop() {
    _rabbitmq_stop_node
    stop_pidfile "$RMQ_EPMD_PIDFILE" TERM 10
}
