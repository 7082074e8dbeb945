# Shared helpers for the local stack scripts. Sourced, never run.
# Every service lives in services/<name>.sh and defines <name>_packages,
# <name>_start, <name>_stop, <name>_running and <name>_env.
set -euo pipefail

CERTFLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Cluster mode: `--cluster` anywhere in the calling script's arguments (removed from
# them here) or CERTFLEET_CLUSTER=1. It runs a PostgreSQL primary + streaming standby and
# a 3-node RabbitMQ cluster, with its own data directory and ports, so it never touches
# the single-node stack (which may be serving other people's tests at the same time).
_args=()
for _arg in "$@"; do
    if [ "$_arg" = --cluster ]; then CERTFLEET_CLUSTER=1; else _args+=("$_arg"); fi
done
set -- ${_args[@]+"${_args[@]}"}
if [ "${CERTFLEET_CLUSTER:-0}" = 1 ]; then
    export CERTFLEET_CLUSTER
    CERTFLEET_STACK_DIR="${CERTFLEET_CLUSTER_STACK_DIR:-$CERTFLEET_ROOT/.stack/cluster}"
    CERTFLEET_PG_PORT="${CERTFLEET_CLUSTER_PG_PORT:-56432}"                # standby: +1
    CERTFLEET_AMQP_PORT="${CERTFLEET_CLUSTER_AMQP_PORT:-56672}"            # nodes: +0..+2
    CERTFLEET_SERVICES="${CERTFLEET_CLUSTER_SERVICES:-postgres postgres_standby rabbitmq_cluster}"
    export CERTFLEET_API_PORT="${CERTFLEET_API_PORT:-8090}"
fi
# All service data, logs and pid files live here (git-ignored).
CERTFLEET_STACK_DIR="${CERTFLEET_STACK_DIR:-$CERTFLEET_ROOT/.stack}"
# The services `up` and `test` start, in order.
# Default: every service defined under services/, in dependency order.
if [ -z "${CERTFLEET_SERVICES:-}" ]; then
    CERTFLEET_SERVICES=""
    for _name in postgres rabbitmq pebble acme2certifier; do
        [ -f "$CERTFLEET_ROOT/deploy/local/services/$_name.sh" ] && CERTFLEET_SERVICES="$CERTFLEET_SERVICES $_name"
    done
    CERTFLEET_SERVICES="${CERTFLEET_SERVICES# }"
fi

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# True while PID names a live, non-zombie process. PID 1 here reaps late,
# so `kill -0` alone would report a stopped server as running.
pid_alive() {
    local pid="$1"
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    local state
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ "$state" != "Z" ]
}

# Waits up to $2 seconds (default 30) for PID to exit.
wait_pid_gone() {
    local pid="$1" limit="${2:-30}" i=0
    while pid_alive "$pid"; do
        sleep 0.1; i=$((i + 1))
        [ "$i" -ge $((limit * 10)) ] && return 1
    done
    return 0
}

# Sends SIGNAL to PID (if it runs) and waits up to LIMIT seconds for it to exit; SIGKILL after.
stop_pid() {
    local pid="$1" signal="${2:-TERM}" limit="${3:-30}"
    pid_alive "$pid" || return 0
    kill "-$signal" "$pid" 2>/dev/null || true
    if ! wait_pid_gone "$pid" "$limit"; then
        log "pid $pid did not exit after SIG$signal; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || true
    fi
}

# stop_pid for the pid in FILE; removes the file.
stop_pidfile() {
    local file="$1" signal="${2:-TERM}" limit="${3:-30}"
    [ -f "$file" ] || return 0
    stop_pid "$(head -n1 "$file" | tr -dc '0-9')" "$signal" "$limit"
    rm -f "$file"
}

# Replaces the calling shell with COMMAND, made fit to run as a daemon: every
# inherited descriptor above 2 closed (a caller reading our output to EOF would
# otherwise wait for the daemon to exit), an empty signal mask and default
# TERM/INT/PIPE (a multi-threaded parent such as Swift's test runner spawns
# children with signals blocked, and the server would ignore our SIGTERM), and
# its own session. Exec all the way down: the pid stays the command's own.
# perl-base (POSIX) is part of every Debian system.
exec_daemon() {
    local fd
    for fd in /proc/self/fd/*; do
        fd="${fd##*/}"
        [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
    done
    exec perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new); $SIG{TERM} = $SIG{INT} = $SIG{PIPE} = "DEFAULT"; POSIX::setsid(); exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' -- "$@"
}

# Runs COMMAND, which starts a daemon and returns (pg_ctl start), the same way.
detached() {
    ( exec_daemon "$@" </dev/null )
}

# Starts COMMAND in the background as a daemon, output appended to LOGFILE, its pid in PIDFILE.
spawn_daemon() {
    local pidfile="$1" logfile="$2"
    shift 2
    ( exec_daemon "$@" </dev/null >>"$logfile" 2>&1 ) &
    echo $! > "$pidfile"
}

# Waits up to 15 s until COMMAND succeeds while the daemon whose pid is in DIR/NAME.pid
# runs; otherwise prints the end of DIR/NAME.log and fails, saying WHAT did not start.
#   wait_daemon_ready WHAT DIR NAME COMMAND...
wait_daemon_ready() {
    local what="$1" dir="$2" name="$3" i; shift 3
    for i in $(seq 1 150); do
        "$@" >/dev/null 2>&1 && return 0
        pid_alive "$(head -n1 "$dir/$name.pid" 2>/dev/null | tr -dc '0-9')" || break
        sleep 0.1
    done
    tail -n 20 "$dir/$name.log" >&2 || true
    die "$what did not become ready"
}

# Fails when something already listens on 127.0.0.1:PORT.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

require_port_free() {
    port_free "$1" || die "port $1 is already in use (set $2 to another port)"
}

# Prints the packages among the arguments that are not installed.
_missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

# Installs the Debian packages that are missing; installs nothing when all are present.
_apt_updated=0
ensure_packages() {
    local missing=()
    read -r -a missing <<< "$(_missing_packages "$@" | tr '\n' ' ')"
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
    # Parallel callers (tests starting private services) install one at a time: apt's own
    # lock fails a second caller instead of making it wait.
    local lock
    mkdir -p "$CERTFLEET_ROOT/.stack"
    exec {lock}>"$CERTFLEET_ROOT/.stack/apt.lock"
    flock "$lock"
    read -r -a missing <<< "$(_missing_packages "$@" | tr '\n' ' ')"
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        # Package install scripts must not start system-wide services (rabbitmq-server would).
        local made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        if [ "$_apt_updated" -eq 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
            _apt_updated=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
        [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    fi
    exec {lock}>&-
    return 0
}

load_services() {
    local name present=""
    for name in $CERTFLEET_SERVICES; do
        [ -f "$CERTFLEET_ROOT/deploy/local/services/$name.sh" ] || die "unknown service '$name'"
        present="$present $name"
    done
    CERTFLEET_SERVICES="${present# }"
    for name in $CERTFLEET_SERVICES; do
        # shellcheck source=/dev/null
        source "$CERTFLEET_ROOT/deploy/local/services/$name.sh"
    done
}

# Packages the Swift build needs, whatever services run.
# publicsuffix: the Public Suffix List the issuance budget counts registered domains with.
# wrk: the paced HTTP load of `certfleet bench api` and `bench scale`.
build_packages() { echo libpq-dev libssl-dev librabbitmq-dev zlib1g-dev pkg-config publicsuffix wrk; }

# The console's browser tests (Tests/Fixtures/console/browser.py): Debian's chromium and its
# chromedriver, driven by Selenium from .venv-tools; fonts so that screenshots show text.
browser_packages() { echo chromium chromium-driver fonts-dejavu-core; }

# deploy/observability/check: promtool (`promtool test rules` on the alert rules).
observability_packages() { echo prometheus; }

ensure_all_packages() {
    local pkgs=() name
    read -r -a pkgs <<< "$(build_packages)"
    for name in $CERTFLEET_SERVICES; do
        read -r -a more <<< "$("${name}_packages")"
        pkgs+=("${more[@]}")
    done
    ensure_packages "${pkgs[@]}"
}

# The master key that seals private keys at rest in the local stack (32 random bytes,
# base64). Production takes it from a secret store; it never goes into the database.
master_key_file() { echo "$CERTFLEET_STACK_DIR/master.key"; }

ensure_master_key() {
    local file
    file="$(master_key_file)"
    [ -s "$file" ] && return 0
    mkdir -p "$CERTFLEET_STACK_DIR"
    (umask 077; head -c 32 /dev/urandom | base64 > "$file")
}

# Prints `export NAME=value` lines for every service (for eval or a shell to source).
print_env() {
    local name
    for name in $CERTFLEET_SERVICES; do "${name}_env"; done
    ensure_master_key
    echo "export CERTFLEET_MASTER_KEY_FILE='$(master_key_file)'"
}

# The PyPI tools of python-tools.txt in the git-ignored .venv-tools (see deploy/local/python-tools).
CERTFLEET_TOOLS_VENV="$CERTFLEET_ROOT/.venv-tools"

_python_tools_ready() {
    local marker="$CERTFLEET_TOOLS_VENV/.complete"
    [ -s "$marker" ] && [ -x "$CERTFLEET_TOOLS_VENV/bin/python3" ] &&
        [ "$(cat "$marker")" = "$(sha256sum < "$CERTFLEET_ROOT/deploy/local/python-tools.txt")" ]
}

# Builds .venv-tools unless it is complete and current. The marker is written last,
# after every package imported, so a build interrupted at any step is rebuilt next time.
ensure_python_tools() {
    _python_tools_ready && return 0
    ensure_packages python3 python3-venv
    local lock
    mkdir -p "$CERTFLEET_ROOT/.stack"
    exec {lock}>"$CERTFLEET_ROOT/.stack/python-tools.lock"
    flock "$lock"
    if ! _python_tools_ready; then
        log "preparing $CERTFLEET_TOOLS_VENV (python-tools.txt)"
        rm -rf "$CERTFLEET_TOOLS_VENV"
        python3 -m venv "$CERTFLEET_TOOLS_VENV"
        "$CERTFLEET_TOOLS_VENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
            -r "$CERTFLEET_ROOT/deploy/local/python-tools.txt" >&2
        local problems
        problems="$("$CERTFLEET_TOOLS_VENV/bin/python3" -m pip check --disable-pip-version-check)" ||
            die "the tools in $CERTFLEET_TOOLS_VENV conflict: $problems"
        sha256sum < "$CERTFLEET_ROOT/deploy/local/python-tools.txt" > "$CERTFLEET_TOOLS_VENV/.complete"
    fi
    exec {lock}>&-
}

# --- authoritative test DNS servers (bind9.sh, knot.sh) ---------------------------------

# tsig_secret DIR PRESET: PRESET when set, else a base64 key made once in DIR/tsig.secret.
tsig_secret() {
    if [ -n "$2" ]; then echo "$2"; return; fi
    [ -s "$1/tsig.secret" ] || { mkdir -p "$1"; openssl rand -base64 32 > "$1/tsig.secret"; chmod 600 "$1/tsig.secret"; }
    cat "$1/tsig.secret"
}

# rfc2136_env PREFIX DIR PORT ZONE NAME ALG: the exports that point tests at one server.
rfc2136_env() {
    echo "export CERTFLEET_$1_SERVER='127.0.0.1:$3'"
    echo "export CERTFLEET_$1_ZONE='$4'"
    echo "export CERTFLEET_$1_TSIG_NAME='$5'"
    echo "export CERTFLEET_$1_TSIG_ALG='$6'"
    echo "export CERTFLEET_$1_TSIG_FILE='$2/tsig.secret'"
}

# test_zone_file FILE ZONE EXTRA: SOA/NS at ns1.<zone> (127.0.0.1), apex and www A records
# and EXTRA lines; everything else comes by UPDATE.
test_zone_file() {
    cat > "$1" <<ZONE
\$TTL 60
@   IN SOA ns1.$2. hostmaster.$2. ( 1 60 60 3600 1 )
    IN NS  ns1.$2.
    IN A   127.0.0.1
ns1 IN A   127.0.0.1
www IN A   127.0.0.1
$3
ZONE
}
