#!/usr/bin/env bash
# A throw-away PostgreSQL 15 + pgvector server for the tests and the scale benchmark.
#
#   scripts/postgres.sh start   install what is missing, start the server, print the export line
#   scripts/postgres.sh stop    stop the server (the data directory is kept; `start` reuses it)
#   scripts/postgres.sh env     print the export line (eval "$(scripts/postgres.sh env)")
#   scripts/postgres.sh purge   stop the server and delete its data directory
#
# Every step is idempotent: packages are installed only when missing, pgvector is built only when
# `vector.control` is not installed, initdb runs only on an empty data directory, and `start` on a
# running server just prints the URL again.
#
# Debian 12 (bookworm) does not package pgvector, so we build trixie's `pgvector` 0.8.0 source package
# against PostgreSQL 15. The source is fetched through a *private* apt configuration (its own
# sources.list, lists and cache in a temp dir): the system's sources and package lists stay untouched.
#
# Settings (environment): STEPCACHE_PG_PORT (55432), STEPCACHE_PG_DIR (/tmp/stepcache-postgres),
# STEPCACHE_PG_DB (stepcache_test).
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
PGVECTOR_VERSION=0.8.0
PORT=${STEPCACHE_PG_PORT:-55432}
BASE=${STEPCACHE_PG_DIR:-/tmp/stepcache-postgres}
DATA=$BASE/data
DB=${STEPCACHE_PG_DB:-stepcache_test}
URL="postgresql://postgres@127.0.0.1:$PORT/$DB"

log() { printf '[postgres.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# phase NAME CMD...: run one step and report how long it took (CI logs show where the minutes go).
phase() {
    local name=$1 start end
    shift
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    local ms=$(((end - start) / 1000000))
    log "$(printf '%-14s %4d.%01d s' "$name" $((ms / 1000)) $((ms % 1000 / 100)))"
}

# The server refuses to run as root, so as root we act as the `postgres` user the package created.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "'$*' needs root; run this script as root or install sudo"
    fi
}

install_packages() {
    local missing=()
    dpkg-query -W -f='${Status}' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q "ok installed" \
        || missing+=("postgresql-$PG_MAJOR")
    dpkg-query -W -f='${Status}' "postgresql-server-dev-$PG_MAJOR" 2>/dev/null | grep -q "ok installed" \
        || missing+=("postgresql-server-dev-$PG_MAJOR")
    command -v make >/dev/null && command -v gcc >/dev/null || missing+=(build-essential)
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages already installed"
        return
    fi
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    # The Debian package would also create and start a `main` cluster on 5432; we do not want it running.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q " online"; then
        as_root pg_ctlcluster "$PG_MAJOR" main stop || true
    fi
}

build_pgvector() {
    local ext_dir
    ext_dir=$("$PG_CONFIG" --sharedir)/extension
    if [ -f "$ext_dir/vector.control" ]; then
        log "pgvector already installed ($(grep default_version "$ext_dir/vector.control"))"
        return
    fi
    local work
    work=$(mktemp -d)
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        >"$work/sources.list"
    # Everything apt reads or writes for this fetch lives in $work. The Sources index is signature-checked
    # and `apt-get source` checks the tarballs against it, so the download is as trusted as any package.
    local apt_opts=(
        -o "Dir::Etc::sourcelist=$work/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache"
        -o "Dir::Cache::pkgcache="
        -o "Dir::Cache::srcpkgcache="
        -o "APT::Sandbox::User=root"
    )
    log "fetching pgvector $PGVECTOR_VERSION source from trixie (private apt config in $work)"
    apt-get "${apt_opts[@]}" update -qq
    (cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only -qq "pgvector=$PGVECTOR_VERSION-1" >/dev/null)
    # The upstream tarball is all we need: Debian's packaging only adds build rules for its own PG versions.
    tar -xzf "$work/src/pgvector_$PGVECTOR_VERSION.orig.tar.gz" -C "$work/src"
    local src
    src=$(find "$work/src" -maxdepth 1 -type d -name "pgvector*" | head -1)
    [ -n "$src" ] || die "pgvector source not found in $work/src"
    # OPTFLAGS="" drops -march=native so the extension runs on any x86-64 the data dir may move to.
    make -s -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)" >/dev/null
    as_root make -s -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" install >/dev/null
    rm -rf "$work"
}

init_cluster() {
    if [ -f "$DATA/PG_VERSION" ]; then
        log "data directory $DATA already initialised"
        return
    fi
    mkdir -p "$BASE"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$BASE"
    # trust auth on 127.0.0.1 only: this server is for tests on this machine and holds nothing secret.
    as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$DATA/postgresql.conf" <<EOF
# stepcache test server
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 200
shared_buffers = 512MB
maintenance_work_mem = 1GB
max_parallel_maintenance_workers = 2
fsync = on
EOF
}

start_server() {
    if as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        log "server already running on port $PORT"
        return
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$BASE/server.log" >&2; die "server did not start; log: $BASE/server.log"; }
}

create_database() {
    local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
    if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE $DB" >/dev/null
    fi
    "${psql[@]}" -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
    log "database $DB ready (vector $("${psql[@]}" -d "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'"))"
}

stop_server() {
    if [ -f "$DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "server stopped"
    else
        log "server not running"
    fi
}

case "${1:-}" in
start)
    phase "packages" install_packages
    phase "pgvector" build_pgvector
    phase "initdb" init_cluster
    phase "server start" start_server
    phase "database" create_database
    echo "export STEPCACHE_TEST_POSTGRES_URL=$URL"
    ;;
stop)
    stop_server
    ;;
env)
    echo "export STEPCACHE_TEST_POSTGRES_URL=$URL"
    ;;
purge)
    stop_server
    rm -rf "$BASE"
    log "removed $BASE"
    ;;
*)
    echo "usage: $0 start|stop|env|purge" >&2
    exit 2
    ;;
esac
