# A 3-node RabbitMQ cluster on loopback, for `up --cluster` and the cluster fault runs.
# Each node is the single-node service of rabbitmq.sh with its own node name, AMQP and
# distribution port and data under $CERTFLEET_STACK_DIR/rabbitmq-cluster/node-N; the
# nodes share one epmd and one Erlang cookie (that is what lets them cluster).
#   node N (0..2): AMQP CERTFLEET_AMQP_PORT+N, distribution CERTFLEET_AMQP_PORT+10+N,
#   one epmd on CERTFLEET_AMQP_PORT+20.
# Its data is disposable: a start that finds the cluster not fully running stops what is
# left and forms it anew (a half-cluster restarting in order would wait for its peers).
# shellcheck source=/dev/null
source "$CERTFLEET_ROOT/deploy/local/services/rabbitmq.sh"

RMQ_CLUSTER_DIR="$CERTFLEET_STACK_DIR/rabbitmq-cluster"
RMQ_CLUSTER_SIZE=3

rabbitmq_cluster_packages() { rabbitmq_packages; }

rabbitmq_cluster_port() { echo $((CERTFLEET_AMQP_PORT + $1)); }

# Points rabbitmq.sh's variables at node N (call in a subshell).
_rabbitmq_cluster_select() {
    local n="$1"
    RMQ_DIR="$RMQ_CLUSTER_DIR/node-$n"
    RMQ_HOME="$RMQ_CLUSTER_DIR/home"
    RMQ_EPMD_PIDFILE="$RMQ_CLUSTER_DIR/epmd.pid"
    CERTFLEET_AMQP_EPMD_PORT=$((CERTFLEET_AMQP_PORT + 20))
    CERTFLEET_AMQP_DIST_PORT=$((CERTFLEET_AMQP_PORT + 10 + n))
    CERTFLEET_AMQP_PORT=$((CERTFLEET_AMQP_PORT + n))
    CERTFLEET_AMQPS_PORT=""
    RMQ_NODE="certfleet-$CERTFLEET_AMQP_PORT@localhost"
}

rabbitmq_cluster_node_name() { ( _rabbitmq_cluster_select "$1"; echo "$RMQ_NODE" ); }

# The beam pid of node N (empty when it never started).
rabbitmq_cluster_node_pid() { _rabbitmq_pidof "$RMQ_CLUSTER_DIR/node-$1/rabbitmq.pid" || true; }

rabbitmq_cluster_env() {
    local n urls=""
    for ((n = 0; n < RMQ_CLUSTER_SIZE; n++)); do
        urls="$urls,amqp://guest:guest@127.0.0.1:$(rabbitmq_cluster_port "$n")/"
    done
    # Every node, comma-separated: clients fail over to the next one.
    echo "export CERTFLEET_AMQP_URL='${urls#,}'"
    echo "export CERTFLEET_AMQP_PORT='$CERTFLEET_AMQP_PORT'"
}

rabbitmq_cluster_running() {
    local n
    for ((n = 0; n < RMQ_CLUSTER_SIZE; n++)); do
        pid_alive "$(rabbitmq_cluster_node_pid "$n")" || return 1
    done
}

# rabbitmqctl against node N.
rabbitmq_cluster_ctl() {
    local n="$1"; shift
    ( _rabbitmq_cluster_select "$n"; _rabbitmq_exec "$CERTFLEET_RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@" </dev/null )
}

rabbitmq_cluster_start() {
    if rabbitmq_cluster_running; then log "rabbitmq cluster already running"; return 0; fi
    rabbitmq_cluster_stop
    rm -rf "$RMQ_CLUSTER_DIR"
    mkdir -p "$RMQ_CLUSTER_DIR"
    local n pids=() failed=0
    # The nodes boot in parallel (3-7 s each); the first one also starts the shared epmd.
    ( _rabbitmq_cluster_select 0; _rabbitmq_prepare_dir; _rabbitmq_start_epmd )
    for ((n = 0; n < RMQ_CLUSTER_SIZE; n++)); do
        ( _rabbitmq_cluster_select "$n"; rabbitmq_start ) &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n" || failed=1; done
    [ "$failed" -eq 0 ] || die "a rabbitmq cluster node did not start (logs in $RMQ_CLUSTER_DIR/node-*/log)"
    local first
    first="$(rabbitmq_cluster_node_name 0)"
    for ((n = 1; n < RMQ_CLUSTER_SIZE; n++)); do
        log "joining $(rabbitmq_cluster_node_name "$n") to $first"
        { rabbitmq_cluster_ctl "$n" stop_app && rabbitmq_cluster_ctl "$n" reset \
            && rabbitmq_cluster_ctl "$n" join_cluster "$first" && rabbitmq_cluster_ctl "$n" start_app; } \
            >>"$RMQ_CLUSTER_DIR/join.log" 2>&1 || { tail -n 20 "$RMQ_CLUSTER_DIR/join.log" >&2; die "join_cluster failed"; }
    done
    rabbitmq_cluster_ctl 0 await_online_nodes "$RMQ_CLUSTER_SIZE" --timeout 120 >>"$RMQ_CLUSTER_DIR/join.log" 2>&1 \
        || die "the cluster did not reach $RMQ_CLUSTER_SIZE nodes"
    log "rabbitmq cluster of $RMQ_CLUSTER_SIZE nodes on 127.0.0.1:$CERTFLEET_AMQP_PORT-$(rabbitmq_cluster_port $((RMQ_CLUSTER_SIZE - 1)))"
}

rabbitmq_cluster_stop() {
    local n
    for ((n = RMQ_CLUSTER_SIZE - 1; n >= 0; n--)); do
        ( _rabbitmq_cluster_select "$n"; _rabbitmq_stop_node )
    done
    stop_pidfile "$RMQ_CLUSTER_DIR/epmd.pid" TERM 10
}

# Prints "N PID" for the node that leads quorum queue QUEUE (asked of any live node).
rabbitmq_cluster_leader() {
    local queue="$1" n leader
    for ((n = 0; n < RMQ_CLUSTER_SIZE; n++)); do
        pid_alive "$(rabbitmq_cluster_node_pid "$n")" || continue
        leader="$(rabbitmq_cluster_ctl "$n" list_queues name leader --no-table-headers --quiet 2>/dev/null \
            | awk -v q="$queue" '$1 == q { print $2 }')" || continue
        [ -n "$leader" ] && break
    done
    [ -n "${leader:-}" ] || die "no leader found for queue $queue"
    for ((n = 0; n < RMQ_CLUSTER_SIZE; n++)); do
        if [ "$(rabbitmq_cluster_node_name "$n")" = "$leader" ]; then
            echo "$n $(rabbitmq_cluster_node_pid "$n")"
            return 0
        fi
    done
    die "leader $leader is not a node of this cluster"
}
