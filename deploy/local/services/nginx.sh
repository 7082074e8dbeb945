# nginx (Debian) as a plain process with one TLS server, the web server a files + reload
# delivery target feeds (issue 22). Data, config and logs under $CERTFLEET_STACK_DIR/nginx.
#   CERTFLEET_NGINX_PORT      TLS listener on 127.0.0.1 (default 8443)
#   CERTFLEET_NGINX_CERT_DIR  where it reads fullchain.pem and privkey.pem (default
#                             $CERTFLEET_STACK_DIR/nginx/certs/site): a files target's
#                             <directory>/<certificate name>. A self-signed placeholder is
#                             made there when it holds nothing yet (nginx will not start without).
# Reload: `nginx -c $CERTFLEET_STACK_DIR/nginx/nginx.conf -s reload` (printed by `ctl env nginx`).
CERTFLEET_NGINX_PORT="${CERTFLEET_NGINX_PORT:-8443}"
NGINX_DIR="$CERTFLEET_STACK_DIR/nginx"
CERTFLEET_NGINX_CERT_DIR="${CERTFLEET_NGINX_CERT_DIR:-$NGINX_DIR/certs/site}"

nginx_packages() { echo nginx openssl; }

nginx_env() {
    echo "export CERTFLEET_NGINX_PORT='$CERTFLEET_NGINX_PORT'"
    echo "export CERTFLEET_NGINX_CERT_DIR='$CERTFLEET_NGINX_CERT_DIR'"
    echo "export CERTFLEET_NGINX_RELOAD='/usr/sbin/nginx -c $NGINX_DIR/nginx.conf -e $NGINX_DIR/error.log -s reload'"
}

_nginx_pid() { [ -f "$NGINX_DIR/nginx.pid" ] && head -n1 "$NGINX_DIR/nginx.pid" | tr -dc '0-9'; }

nginx_running() { pid_alive "$(_nginx_pid || true)"; }

_nginx_placeholder() {
    [ -s "$CERTFLEET_NGINX_CERT_DIR/fullchain.pem" ] && [ -s "$CERTFLEET_NGINX_CERT_DIR/privkey.pem" ] && return 0
    mkdir -p "$CERTFLEET_NGINX_CERT_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=placeholder" \
        -keyout "$CERTFLEET_NGINX_CERT_DIR/privkey.pem" -out "$CERTFLEET_NGINX_CERT_DIR/fullchain.pem" 2>/dev/null
    chmod 600 "$CERTFLEET_NGINX_CERT_DIR/privkey.pem"
}

nginx_start() {
    nginx_running && return 0
    require_port_free "$CERTFLEET_NGINX_PORT" CERTFLEET_NGINX_PORT
    mkdir -p "$NGINX_DIR/tmp"
    _nginx_placeholder
    cat > "$NGINX_DIR/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    server {
        listen 127.0.0.1:$CERTFLEET_NGINX_PORT ssl;
        ssl_certificate $CERTFLEET_NGINX_CERT_DIR/fullchain.pem;
        ssl_certificate_key $CERTFLEET_NGINX_CERT_DIR/privkey.pem;
        location / { return 200 "ok\n"; }
    }
}
CONF
    spawn_daemon "$NGINX_DIR/nginx.spawn.pid" "$NGINX_DIR/nginx.log" /usr/sbin/nginx -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log"
    wait_daemon_ready nginx "$NGINX_DIR" nginx.spawn bash -c "exec 3<>/dev/tcp/127.0.0.1/$CERTFLEET_NGINX_PORT"
    log "nginx on 127.0.0.1:$CERTFLEET_NGINX_PORT (certificate from $CERTFLEET_NGINX_CERT_DIR)"
}

nginx_stop() {
    # QUIT: graceful; the master's pid is the spawned one (daemon off).
    stop_pidfile "$NGINX_DIR/nginx.spawn.pid" QUIT 10
    rm -f "$NGINX_DIR/nginx.pid"
}
