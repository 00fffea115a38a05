#!/bin/bash
# test/demo.sh - what `make demo` runs (after test/setup.sh).
#
# Builds and installs the extension, starts a throwaway PostgreSQL 15 cluster
# with migrate preloaded in ./.demo (or /tmp/migrate-demo when the postgres
# OS user cannot use ./.demo), and does with pg_migrate what a team does
# with its folder (test/examples): lint, plan, up, status, down, the CI
# check; then shows the data with psql and the guard refusing a blocking
# CREATE INDEX on a large table.  The cluster is left running; the last
# lines say how to connect to it and how to stop it (make demo-clean).
#
# Run as root.  Every step is checked: a broken demo fails loudly.
set -euo pipefail
shopt -s inherit_errexit  # errors inside $(...) stop the script too

SCRIPT_NAME=demo
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
EXAMPLES=$REPO/test/examples
FALLBACK=/tmp/migrate-demo
FIRST_PORT=${MIGRATE_DEMO_PORT:-5499}

say() { printf '\n=== %s\n' "$*"; }

# Stop a demo cluster still running in $1 (a previous `make demo`).
stop_running() {
	local dir=$1
	if [ -f "$dir/data/postmaster.pid" ] &&
		as_pg "$BINDIR/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		echo "stopping the demo cluster already running in $dir"
		as_pg "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w stop
	fi
}

# `make demo-clean`: stop the demo cluster and remove it (make clean leaves
# it alone, since a running server's data directory is not build output).
if [ "${1:-}" = --clean ]; then
	for dir in "$REPO/.demo" "$FALLBACK"; do
		stop_running "$dir"
		rm -rf "$dir"
	done
	exit 0
fi

# ------------------------------------------------------------ build ----
cd "$REPO"
say "build and install (make PG_CONFIG=$PG_CONFIG && make install)"
make PG_CONFIG="$PG_CONFIG" -j"$(nproc)"
make PG_CONFIG="$PG_CONFIG" install

# --------------------------------------------------- demo directory ----
# Can the postgres OS user create files in $1 and reach it through every
# parent directory, and is the socket path short enough (sun_path is 108
# bytes, ".s.PGSQL.NNNNN" included)?
usable_dir() {
	local dir=$1
	mkdir -p "$dir" 2>/dev/null || return 1
	chown postgres:postgres "$dir" 2>/dev/null || return 1
	chmod 700 "$dir"
	if ! as_pg test -w "$dir" -a -x "$dir" 2>/dev/null ||
		[ $((${#dir} + 15)) -ge 108 ]; then
		rmdir "$dir" 2>/dev/null || true
		return 1
	fi
}

DEMO=$REPO/.demo
stop_running "$DEMO"
if ! usable_dir "$DEMO"; then
	echo "note: the postgres OS user cannot use $DEMO (no write/search permission"
	echo "      on it or a parent directory, or the socket path would be too long);"
	echo "      using $FALLBACK instead"
	DEMO=$FALLBACK
	stop_running "$DEMO"
	usable_dir "$DEMO" || die "cannot prepare $DEMO for the postgres user either"
fi
rm -rf "$DEMO/data" "$DEMO/server.log"

# A port nobody uses, neither over TCP nor through the usual socket dirs,
# so `psql -p PORT` can never reach another server by mistake.
port_in_use() {
	local p=$1
	[ -e "/var/run/postgresql/.s.PGSQL.$p" ] || [ -e "/tmp/.s.PGSQL.$p" ] ||
		timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null
}
PORT=$FIRST_PORT
while port_in_use "$PORT"; do
	PORT=$((PORT + 1))
	[ "$PORT" -lt $((FIRST_PORT + 100)) ] || die "no free port in $FIRST_PORT..$((FIRST_PORT + 99))"
done

# ---------------------------------------------------------- cluster ----
say "creating the demo cluster in $DEMO/data (port $PORT, socket in $DEMO)"
as_pg "$BINDIR/initdb" -D "$DEMO/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
cat >>"$DEMO/data/postgresql.conf" <<EOF

# --- migrate demo (test/demo.sh) ---
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
shared_preload_libraries = 'migrate'
max_worker_processes = 16
EOF
if ! as_pg "$BINDIR/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w -t 60 start; then
	echo "--- tail of $DEMO/server.log"
	tail -n 40 "$DEMO/server.log" || true
	die "the demo server did not start"
fi

PSQL=("$BINDIR/psql" -X -h "$DEMO" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -P pager=off)
"${PSQL[@]}" -q -d postgres -c "CREATE DATABASE demo"
# So that root (who runs `make demo`) can simply `psql -h DIR -p PORT demo`.
me=$(id -un)
if [ "$me" != postgres ]; then
	"${PSQL[@]}" -q -d postgres -c "CREATE ROLE \"$me\" SUPERUSER LOGIN"
fi

# ------------------------------------------------------------ demo ----
# What a team does with its folder: pg_migrate on test/examples
# (NNN_name.up.sql / NNN_name.down.sql), then a look with psql, and the
# guard refusing a blocking CREATE INDEX on a large table.
PGM=("$BINDIR/pg_migrate" -h "$DEMO" -p "$PORT" -U postgres -d demo --dir "$EXAMPLES")
demo_failed() {
	echo
	echo "--- tail of $DEMO/server.log"
	tail -n 60 "$DEMO/server.log" || true
	echo
	echo "DEMO FAILED ($*).  The cluster is still running for inspection:"
	echo "  psql -h $DEMO -p $PORT demo"
	echo "  runuser -u postgres -- $BINDIR/pg_ctl -D $DEMO/data stop"
	exit 1
}
step() {
	echo
	echo "\$ $*" | sed "s|$BINDIR/||; s|-h $DEMO -p $PORT -U postgres -d demo --dir $EXAMPLES|--dir test/examples|"
}

"${PSQL[@]}" -q -d demo -c "CREATE EXTENSION migrate"
say "pg_migrate on the folder test/examples"
step "${PGM[@]}" lint
"${PGM[@]}" lint || demo_failed "pg_migrate lint"
step "${PGM[@]}" plan
"${PGM[@]}" plan || demo_failed "pg_migrate plan"
step "${PGM[@]}" up
"${PGM[@]}" up || demo_failed "pg_migrate up"
step "${PGM[@]}" status
"${PGM[@]}" status || demo_failed "pg_migrate status"

say "what the migrations did (psql)"
"${PSQL[@]}" -d demo -c "SELECT id, relation, column_name, state, rows_done, batches FROM migrate_backfill_status()" \
	-c "SELECT id, email, display_name, is_active FROM users ORDER BY id LIMIT 5" \
	-c "SELECT id, user_id, total_cents, status FROM orders ORDER BY id LIMIT 5" ||
	demo_failed "psql"

say "rolling back the latest migration, and the CI check after it"
step "${PGM[@]}" down
"${PGM[@]}" down || demo_failed "pg_migrate down"
step "${PGM[@]}" status --exit-code
rc=0
"${PGM[@]}" status --exit-code || rc=$?
echo "exit code $rc (3: a migration is pending)"
[ "$rc" -eq 3 ] || demo_failed "status --exit-code gave $rc, not 3"

say "the guard: a blocking CREATE INDEX on a large table is refused before it takes its lock"
"${PSQL[@]}" -q -d demo -c "CREATE TABLE events AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 200000) g"
set +e
"${PSQL[@]}" -d demo -c "CREATE INDEX ON events (payload)"
rc=$?
set -e
[ "$rc" -ne 0 ] || demo_failed "the guard let a blocking CREATE INDEX through"
"${PSQL[@]}" -d demo -c "CREATE INDEX CONCURRENTLY ON events (payload)" || demo_failed "CREATE INDEX CONCURRENTLY"

say "the demo cluster is running"
echo "  connect: psql -h $DEMO -p $PORT demo"
echo "           (as any OS user that can reach $DEMO: psql -h $DEMO -p $PORT -U postgres demo)"
echo "  log:     $DEMO/server.log"
echo "  stop:    make demo-clean (stops it and removes $DEMO)"
