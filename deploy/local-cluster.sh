#!/usr/bin/env bash
# A three-node AyTrack cluster on loopback, for trying the cluster out on one machine: a throwaway PostgreSQL
# (its own data directory and port, listening on 127.0.0.1 only) and three nodes that share it for journal,
# snapshots and spool. Ctrl-C (or SIGTERM) stops the nodes gracefully, stops PostgreSQL and removes the directory.
#
# Usage: deploy/local-cluster.sh [--base-port N] [--dir DIR] [--keep] [--node-dll PATH]
#   --base-port N   PostgreSQL on N; node k (1..3): remoting N+k, SMTP N+10+k, admin N+20+k   (default 25400)
#   --dir DIR       where data goes (default: a new directory under /tmp)
#   --keep          keep DIR after stopping
#   --node-dll PATH run this AyTrack.Node.dll instead of building src/AyTrack.Node (Release) first
#                   (the aytrack CLI is taken from beside it when it is there, else built too)
#
# The nodes talk mutual TLS: the script makes a CA and a certificate per node with `aytrack cluster cert`, and each
# node trusts only certificates that CA issued (AyTrack:Cluster:Tls:CaPath).
#
# Delivery is limited to 127.0.0.0/8 (AyTrack:Delivery:AllowedDestinations): mail relayed to this cluster can
# never leave the machine. The nodes share one admin token, written to each node's data directory, so the CLI
# finds it with --data-dir.
set -euo pipefail

base=25400
dir=""
keep=0
node_dll=""
while [ $# -gt 0 ]; do
    case "$1" in
        --base-port) base="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --node-dll) node_dll="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
[ -n "$dir" ] || dir="$(mktemp -d /tmp/aytrack-local-cluster.XXXXXX)"
mkdir -p "$dir"
# PostgreSQL may run as another user (below) and must reach its directory.
chmod 755 "$dir"

command -v curl >/dev/null || { echo "curl is needed to wait for the nodes' /healthz: apt-get install curl" >&2; exit 1; }
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/pg_ctl" ]; then
    echo "PostgreSQL is not installed (looked for /usr/lib/postgresql/*/bin/pg_ctl): apt-get install postgresql" >&2
    exit 1
fi

# PostgreSQL refuses to run as root: then it runs as the postgres user on a directory handed to that user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "Stopping the nodes..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -f "$dir/pg/postmaster.pid" ]; then
        echo "Stopping PostgreSQL..."
        as_pg "$pg_bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ "$keep" = 0 ]; then rm -rf "$dir"; else echo "Data kept in $dir"; fi
    echo "Stopped."
}
# Ctrl-C and SIGTERM are the normal way to stop: clean up and exit 0. Any other exit (a failed start) cleans up too.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

if [ -z "$node_dll" ]; then
    echo "Building AyTrack.Node (Release)..."
    dotnet build "$repo/src/AyTrack.Node" -c Release -o "$dir/bin" -nologo -v quiet >"$dir/build.log" 2>&1 \
        || { cat "$dir/build.log" >&2; exit 1; }
    node_dll="$dir/bin/AyTrack.Node.dll"
fi
cli_dll="$(dirname "$node_dll")/aytrack.dll"
if [ ! -f "$cli_dll" ]; then
    echo "Building the aytrack CLI (Release)..."
    dotnet build "$repo/src/AyTrack.Cli" -c Release -o "$dir/cli" -nologo -v quiet >"$dir/build-cli.log" 2>&1 \
        || { cat "$dir/build-cli.log" >&2; exit 1; }
    cli_dll="$dir/cli/aytrack.dll"
fi

echo "Making the cluster's CA and a certificate per node..."
mkdir -p "$dir/tls"
dotnet "$cli_dll" cluster cert create-ca --out "$dir/tls/ca.pfx" --name "AyTrack local cluster CA" >/dev/null
for k in 1 2 3; do
    dotnet "$cli_dll" cluster cert create --ca "$dir/tls/ca.pfx" --out "$dir/tls/node$k.pfx" --name 127.0.0.1 --san localhost >/dev/null
done

pg_port=$base
echo "Starting PostgreSQL on 127.0.0.1:$pg_port..."
mkdir -p "$dir/pg" "$dir/pg-run"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg" "$dir/pg-run"
as_pg "$pg_bin/initdb" -D "$dir/pg" -U aytrack --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
as_pg "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg-run/postgres.log" -w -t 60 \
    -o "-p $pg_port -k $dir/pg-run -c listen_addresses=127.0.0.1" start >/dev/null
as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U aytrack -d postgres -qc "CREATE DATABASE aytrack" >/dev/null
connection="Host=127.0.0.1;Port=$pg_port;Database=aytrack;Username=aytrack"

token="$(head -c 32 /dev/urandom | base64 | tr -d '=+/' | cut -c1-43)"
seed="akka.ssl.tcp://aytrack@127.0.0.1:$((base + 1))"
for k in 1 2 3; do
    node_dir="$dir/node$k"
    mkdir -p "$node_dir"
    (umask 077; printf '%s' "$token" >"$node_dir/admin.token")
    # Node 1 is the seed; the others join it once it is up, so the first start creates the tables alone.
    dotnet "$node_dll" \
        "--AyTrack:DataDir=$node_dir" \
        "--AyTrack:Listener:Endpoint=127.0.0.1:$((base + 10 + k))" \
        "--AyTrack:Admin:Url=http://127.0.0.1:$((base + 20 + k))" \
        "--AyTrack:Delivery:AllowedDestinations:0=127.0.0.0/8" \
        "--AyTrack:Persistence:Provider=postgresql" \
        "--AyTrack:Persistence:ConnectionString=$connection" \
        "--AyTrack:Secrets:KeyFile=$dir/secrets.key" \
        "--AyTrack:Cluster:Hostname=127.0.0.1" \
        "--AyTrack:Cluster:Port=$((base + k))" \
        "--AyTrack:Cluster:SeedNodes:0=$seed" \
        "--AyTrack:Cluster:Tls:CertificatePath=$dir/tls/node$k.pfx" \
        "--AyTrack:Cluster:Tls:CaPath=$dir/tls/ca.crt" \
        >"$node_dir/node.log" 2>&1 &
    pids+=($!)
    echo "Starting node$k..."
    for _ in $(seq 1 600); do
        if curl -fs "http://127.0.0.1:$((base + 20 + k))/healthz" >/dev/null 2>&1; then break; fi
        if ! kill -0 "${pids[-1]}" 2>/dev/null; then echo "node$k exited; its log:" >&2; tail -20 "$node_dir/node.log" >&2; exit 1; fi
        sleep 0.2
    done
    curl -fs "http://127.0.0.1:$((base + 20 + k))/healthz" >/dev/null || { echo "node$k did not become healthy; see $node_dir/node.log" >&2; exit 1; }
done

# Healthy means a node itself is Up; gossip reaches the others a moment later. Up is when every node sees all three.
for k in 1 2 3; do
    for _ in $(seq 1 300); do
        members_up="$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$((base + 20 + k))/api/cluster" | grep -o '"status":"Up"' | wc -l)"
        if [ "$members_up" -eq 3 ]; then break; fi
        sleep 0.2
    done
    [ "$members_up" -eq 3 ] || { echo "node$k sees $members_up of 3 members up; see $dir/node$k/node.log" >&2; exit 1; }
done

cat <<TEXT

AyTrack local cluster is up. Data: $dir
  node1  SMTP 127.0.0.1:$((base + 11))  admin http://127.0.0.1:$((base + 21))  cluster akka.ssl.tcp://aytrack@127.0.0.1:$((base + 1))
  node2  SMTP 127.0.0.1:$((base + 12))  admin http://127.0.0.1:$((base + 22))  cluster akka.ssl.tcp://aytrack@127.0.0.1:$((base + 2))
  node3  SMTP 127.0.0.1:$((base + 13))  admin http://127.0.0.1:$((base + 23))  cluster akka.ssl.tcp://aytrack@127.0.0.1:$((base + 3))
  PostgreSQL 127.0.0.1:$pg_port, database aytrack, user aytrack
The admin token is in $dir/node1/admin.token (the same for every node). Try:
  dotnet run --project $repo/src/AyTrack.Cli -- --data-dir $dir/node1 cluster show
  swaks --server 127.0.0.1:$((base + 12)) --to someone@example.test
Delivery is limited to 127.0.0.0/8, so nothing relayed here leaves this machine.
Press Ctrl-C to stop everything.
TEXT

# Wait for Ctrl-C; a node that dies on its own is reported once and the others go on.
reported=(0 0 0)
while true; do
    for k in 1 2 3; do
        if [ "${reported[$((k - 1))]}" = 0 ] && ! kill -0 "${pids[$((k - 1))]}" 2>/dev/null; then
            echo "node$k exited; see $dir/node$k/node.log" >&2
            reported[$((k - 1))]=1
        fi
    done
    sleep 1 &
    wait $! || true
done
