# A streaming standby of the postgres service (the primary): `pg_basebackup -R` through
# a physical replication slot, hot standby on CERTFLEET_PG_STANDBY_PORT (default primary
# port + 1), data under $CERTFLEET_STACK_DIR/postgres-standby. Start it after postgres.
# `ctl promote` turns it into a primary (what a failover does); its data is disposable:
# a start after a promotion takes a fresh base backup.
# shellcheck source=/dev/null
source "$CERTFLEET_ROOT/deploy/local/services/postgres.sh"

CERTFLEET_PG_STANDBY_PORT="${CERTFLEET_PG_STANDBY_PORT:-$((CERTFLEET_PG_PORT + 1))}"
PG_STANDBY_DIR="$CERTFLEET_STACK_DIR/postgres-standby"
PG_STANDBY_SLOT="certfleet_standby"

postgres_standby_packages() { postgres_packages; }

# Both servers, primary first: libpq picks whichever accepts writes.
postgres_standby_env() {
    echo "export CERTFLEET_DATABASE_URL='host=127.0.0.1,127.0.0.1 port=$CERTFLEET_PG_PORT,$CERTFLEET_PG_STANDBY_PORT user=certfleet dbname=certfleet target_session_attrs=read-write'"
    echo "export CERTFLEET_PG_STANDBY_PORT='$CERTFLEET_PG_STANDBY_PORT'"
}

postgres_standby_pid() {
    [ -f "$PG_STANDBY_DIR/data/postmaster.pid" ] && head -n1 "$PG_STANDBY_DIR/data/postmaster.pid" | tr -dc '0-9'
}

postgres_standby_running() { pid_alive "$(postgres_standby_pid || true)"; }

postgres_standby_start() {
    if postgres_standby_running; then log "postgres standby already running (pid $(postgres_standby_pid))"; return 0; fi
    postgres_running || die "postgres_standby needs the postgres primary running first"
    _postgres_prepare_dir "$PG_STANDBY_DIR"
    local data="$PG_STANDBY_DIR/data"
    if [ ! -f "$data/standby.signal" ]; then
        rm -rf "$data"
        # A slot keeps the WAL the standby still needs; a new base backup gets a new slot.
        psql -q -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null \
            -c "SELECT pg_drop_replication_slot('$PG_STANDBY_SLOT') FROM pg_replication_slots WHERE slot_name = '$PG_STANDBY_SLOT'"
        log "pg_basebackup from 127.0.0.1:$CERTFLEET_PG_PORT into $data"
        runuser -u postgres -- "$CERTFLEET_PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres \
            -D "$data" -R -X stream -C -S "$PG_STANDBY_SLOT" --checkpoint=fast >"$PG_STANDBY_DIR/basebackup.log" 2>&1 \
            || { cat "$PG_STANDBY_DIR/basebackup.log" >&2; die "pg_basebackup failed"; }
        rm -f "$data/postmaster.pid"
        # The copy of the primary's settings must not make the standby, once promoted,
        # wait for a standby of its own.
        sed -i '/^synchronous_standby_names/d' "$data/postgresql.auto.conf"
    fi
    require_port_free "$CERTFLEET_PG_STANDBY_PORT" CERTFLEET_PG_STANDBY_PORT
    log "starting postgres standby on 127.0.0.1:$CERTFLEET_PG_STANDBY_PORT"
    detached runuser -u postgres -- "$CERTFLEET_PG_BIN/pg_ctl" -D "$data" -l "$PG_STANDBY_DIR/server.log" -w -t 60 \
        -o "$(postgres_server_options "$CERTFLEET_PG_STANDBY_PORT" "$data")" \
        start >/dev/null || { tail -n 20 "$PG_STANDBY_DIR/server.log" >&2; die "postgres standby did not start"; }
    # Streaming, not just started: the primary lists the standby as a WAL receiver.
    local i streaming=0
    for i in $(seq 1 300); do
        [ "$(psql -tAq -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres -d postgres \
            -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null)" = 1 ] && { streaming=1; break; }
        sleep 0.1
    done
    [ "$streaming" = 1 ] || die "the standby on port $CERTFLEET_PG_STANDBY_PORT is not streaming (see $PG_STANDBY_DIR/server.log)"
    # Synchronous replication: a commit returns once the standby has it, so a failover
    # loses no acknowledged transaction (what managed "high availability" PostgreSQL does).
    psql -q -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null \
        -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()"
}

# Failover: the standby leaves recovery and accepts writes.
postgres_standby_promote() {
    postgres_standby_running || die "no standby running"
    log "promoting the standby on 127.0.0.1:$CERTFLEET_PG_STANDBY_PORT"
    runuser -u postgres -- "$CERTFLEET_PG_BIN/pg_ctl" -D "$PG_STANDBY_DIR/data" -w -t 60 promote >/dev/null
}

postgres_standby_stop() {
    local pid
    pid="$(postgres_standby_pid || true)"
    if pid_alive "$pid"; then
        log "stopping postgres standby (pid $pid)"
        stop_pid "$pid" INT 60
    fi
}
