# PostgreSQL 15 as a plain process, run as the unprivileged `postgres` user
# (the server refuses to run as root).
CERTFLEET_PG_PORT="${CERTFLEET_PG_PORT:-55432}"
CERTFLEET_PG_BIN="${CERTFLEET_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_DIR="$CERTFLEET_STACK_DIR/postgres"

postgres_packages() { echo postgresql-15 postgresql-client-15 postgresql-contrib; }

postgres_url() { echo "postgres://certfleet@127.0.0.1:$CERTFLEET_PG_PORT/certfleet"; }

postgres_env() {
    echo "export CERTFLEET_DATABASE_URL='$(postgres_url)'"
    echo "export CERTFLEET_PG_PORT='$CERTFLEET_PG_PORT'"
}

postgres_pid() { [ -f "$PG_DIR/data/postmaster.pid" ] && head -n1 "$PG_DIR/data/postmaster.pid" | tr -dc '0-9'; }

postgres_running() { pid_alive "$(postgres_pid || true)"; }

# The data directory must be reachable by the postgres user; a checkout under
# a private home (mode 700) is not, so the data then lives under /tmp, linked here.
# DIR defaults to the primary's directory (the standby passes its own).
_postgres_prepare_dir() {
    local dir="${1:-$PG_DIR}"
    mkdir -p "$CERTFLEET_STACK_DIR"
    if [ ! -e "$dir" ]; then
        mkdir -p "$dir"
        chown postgres:postgres "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            rmdir "$dir"
            local alt
            alt="/tmp/certfleet-$(printf '%s' "$dir" | sha1sum | cut -c1-12)/$(basename "$dir")"
            mkdir -p "$alt"; chmod 755 "$(dirname "$alt")"; chown postgres:postgres "$alt"
            ln -s "$alt" "$dir"
            log "postgres data lives in $alt (the checkout is not reachable by the postgres user)"
        fi
    fi
}

# Server settings shared by the primary and its standby (a hot standby needs at
# least the primary's max_connections).
postgres_server_options() {
    echo "-c listen_addresses=127.0.0.1 -p $1 -c unix_socket_directories=$2/run -c max_connections=1000 -c shared_buffers=256MB"
}

postgres_start() {
    if postgres_running; then log "postgres already running (pid $(postgres_pid))"; return 0; fi
    _postgres_prepare_dir
    local data="$PG_DIR/data"
    if [ ! -f "$data/PG_VERSION" ]; then
        log "initdb $data"
        runuser -u postgres -- "$CERTFLEET_PG_BIN/initdb" -D "$data" -A trust -E UTF8 --locale=C.UTF-8 -U postgres >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        mkdir -p "$data/run"; chown postgres:postgres "$data/run"
    fi
    rm -f "$data/postmaster.pid"
    require_port_free "$CERTFLEET_PG_PORT" CERTFLEET_PG_PORT
    log "starting postgres on 127.0.0.1:$CERTFLEET_PG_PORT"
    detached runuser -u postgres -- "$CERTFLEET_PG_BIN/pg_ctl" -D "$data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "$(postgres_server_options "$CERTFLEET_PG_PORT" "$data")" \
        start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; die "postgres did not start"; }
    local i
    for i in $(seq 1 100); do
        pg_isready -q -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres && break
        sleep 0.1
    done
    # The application role and database; idempotent.
    psql -q -h 127.0.0.1 -p "$CERTFLEET_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE ROLE certfleet LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'certfleet') \gexec
SELECT 'CREATE DATABASE certfleet OWNER certfleet' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'certfleet') \gexec
SQL
}

postgres_stop() {
    local pid
    pid="$(postgres_pid || true)"
    if pid_alive "$pid"; then
        log "stopping postgres (pid $pid)"
        stop_pid "$pid" INT 60
    fi
}
