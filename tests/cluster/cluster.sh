#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on 127.0.0.1, beside the machine's own broker
# (which it leaves alone), for the cluster tests (tests/tests/cluster.rs).
#
#   cluster.sh start          start the three nodes and join them (idempotent)
#   cluster.sh stop           stop them and delete their data
#   cluster.sh start-node N   start node N again (after a test killed it)
#   cluster.sh kill N         kill -9 node N (a crash)
#   cluster.sh pause N        SIGSTOP node N (a node that stops answering)
#   cluster.sh resume N       SIGCONT node N
#   cluster.sh ctl N ARGS...  rabbitmqctl ARGS against node N
#   cluster.sh pid N          the OS pid of node N
#
# Node N (1..3) is rpc-cN@localhost: AMQP on 127.0.0.1:568N, AMQPS on
# 127.0.0.1:569N (with a CA made here by openssl), Erlang distribution on
# 2568N. Everything lives under target/rabbit-cluster: config, data, logs,
# the shared Erlang cookie and the TLS files (tls/ca.pem, tls/client.pem,
# tls/client.key, and tls/other-ca.pem, a CA that signed nothing).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/target/rabbit-cluster"
bin=/usr/lib/rabbitmq/bin

node_name() { echo "rpc-c$1@localhost"; }

node_env() {
    local n=$1
    export HOME="$dir"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_NODENAME="$(node_name "$n")"
    export RABBITMQ_NODE_PORT="568$n"
    export RABBITMQ_DIST_PORT="2568$n"
    export RABBITMQ_CONFIG_FILE="$dir/node$n/rabbitmq.conf"
    export RABBITMQ_MNESIA_BASE="$dir/node$n/mnesia"
    export RABBITMQ_LOG_BASE="$dir/node$n/log"
    export RABBITMQ_PID_FILE="$dir/node$n/pid"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export ERL_EPMD_ADDRESS=127.0.0.1
}

ctl() {
    local n=$1
    shift
    (node_env "$n" && "$bin/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

make_tls() {
    local tls="$dir/tls"
    [ -f "$tls/client.key" ] && return
    mkdir -p "$tls"
    (
        cd "$tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rpc test CA" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
            -keyout other-ca.key -out other-ca.pem 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 2 -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=rpc test client" \
            -keyout client.key -out client.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' > client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 2 -extfile client.ext -out client.pem 2>/dev/null
        chmod 644 ./*.pem ./*.key
    )
}

write_config() {
    mkdir -p "$dir"
    if [ ! -f "$dir/.erlang.cookie" ]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/.erlang.cookie"
        chmod 400 "$dir/.erlang.cookie"
    fi
    : > "$dir/rabbitmq-env.conf"
    echo "[]." > "$dir/enabled_plugins"
    # Notice a paused peer node within ~10 s instead of ~60 (the
    # heartbeat test pauses one).
    echo "[{kernel, [{net_ticktime, 10}]}]." > "$dir/advanced.config"
    for n in 1 2 3; do
        mkdir -p "$dir/node$n"
        cat > "$dir/node$n/rabbitmq.conf" <<CONF
listeners.tcp.local = 127.0.0.1:568$n
listeners.ssl.local = 127.0.0.1:569$n
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
CONF
    done
}

# Processes of node N started from another checkout (another cookie and
# data dir): they hold our ports and names, so they go.
kill_strangers() {
    local n=$1 pid
    for pid in $(grep -l -a -s "RABBITMQ_NODENAME=$(node_name "$n")" /proc/[0-9]*/environ | cut -d/ -f3); do
        if ! grep -q -a -s "RABBITMQ_MNESIA_BASE=$dir/node$n/mnesia" "/proc/$pid/environ"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

start_node() {
    local n=$1
    if ctl "$n" status >/dev/null 2>&1; then
        return
    fi
    kill_strangers "$n"
    (node_env "$n" && ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        "$bin/rabbitmq-server" -detached)
    # `wait` also waits for the node to appear (await_startup fails at once
    # while the node has not registered with epmd yet).
    ctl "$n" wait "$dir/node$n/pid" --timeout 120 >/dev/null
}

case "${1:-}" in
start)
    started=$(date +%s)
    make_tls
    write_config
    for n in 1 2 3; do start_node "$n"; done
    for n in 2 3; do
        if ! ctl "$n" cluster_status 2>/dev/null | grep -q "$(node_name 1)"; then
            ctl "$n" stop_app >/dev/null 2>&1
            ctl "$n" reset >/dev/null 2>&1
            ctl "$n" join_cluster "$(node_name 1)" >/dev/null 2>&1
            ctl "$n" start_app >/dev/null 2>&1
        fi
    done
    ctl 1 await_online_nodes 3 --timeout 120 >/dev/null 2>&1 || true
    echo "cluster of 3 nodes up in $(( $(date +%s) - started )) s: amqp://127.0.0.1:5681,127.0.0.1:5682,127.0.0.1:5683"
    ;;
start-node)
    start_node "$2"
    ;;
pid)
    cat "$dir/node$2/pid"
    ;;
kill)
    kill -KILL "$(cat "$dir/node$2/pid")"
    ;;
pause)
    kill -STOP "$(cat "$dir/node$2/pid")"
    ;;
resume)
    kill -CONT "$(cat "$dir/node$2/pid")"
    ;;
ctl)
    n=$2
    shift 2
    ctl "$n" "$@"
    ;;
stop)
    for n in 1 2 3; do
        ctl "$n" stop "$dir/node$n/pid" >/dev/null 2>&1 || true
        kill_strangers "$n"
    done
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop|start-node N|kill N|pause N|resume N|ctl N ARGS...|pid N" >&2
    exit 2
    ;;
esac
