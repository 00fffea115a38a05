#!/bin/bash
# test/demo.sh - what `make demo` runs (after test/setup.sh).
#
# Builds and installs the extension, starts a throwaway PostgreSQL 15 cluster
# with migrate preloaded in ./.demo (or /tmp/migrate-demo when the postgres
# OS user cannot use ./.demo), registers the example migration history in
# test/examples, then plans, applies, shows the status, rolls the last
# migration back and shows the status again.  The cluster is left running;
# the last lines say how to connect to it and how to stop it.
#
# Run as root.  Every psql call uses ON_ERROR_STOP=1: a broken demo fails loudly.
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

# ------------------------------------------------------ demo script ----
# Example files are NNN_name.up.sql / NNN_name.down.sql; version = NNN.
SCRIPT=$DEMO/demo.sql
shopt -s nullglob
ups=("$EXAMPLES"/*.up.sql)
shopt -u nullglob
[ ${#ups[@]} -gt 0 ] || die "no examples in $EXAMPLES"
{
	echo "\\echo '=== CREATE EXTENSION migrate'"
	echo "CREATE EXTENSION migrate;"
	echo "\\echo '=== registering ${#ups[@]} migrations from test/examples'"
	echo "\\pset tuples_only on"
	echo "\\pset format unaligned"
	for up in "${ups[@]}"; do
		base=$(basename "$up" .up.sql)
		ver=${base%%_*}
		name=${base#*_}
		down=${up%.up.sql}.down.sql
		[ -f "$down" ] || die "missing $down"
		printf "\\\\set ver '%s'\n" "$ver"
		printf "\\\\set name '%s'\n" "$name"
		printf "\\\\set up \`cat '%s'\`\n" "$up"
		printf "\\\\set down \`cat '%s'\`\n" "$down"
		echo "SELECT '  ' || :'ver' || ' ' || :'name' || ': ' || migrate_register(:'ver', :'name', :'up', :'down');"
	done
	cat <<'EOF'
\pset tuples_only off
\pset format aligned
\set ECHO queries
\echo
\echo '=== what would run'
SELECT * FROM migrate_plan();
\echo '=== apply everything (returns early with status running for steps the worker is still finishing)'
SELECT * FROM migrate_apply();
CALL migrate_wait();
\echo '=== status after apply'
SELECT * FROM migrate_status();
\echo '=== the backfill jobs the migrations started (batched in the worker)'
SELECT id, relation, column_name, state, rows_done, batches, skipped_locked FROM migrate_backfill_status();
\echo '=== the data the backfills produced'
SELECT id, email, display_name, is_active FROM users ORDER BY id;
SELECT id, author_name, author_id, title FROM posts ORDER BY id;
SELECT id, user_id, total_cents, status FROM orders ORDER BY id;
\d orders
\echo '=== roll back the last migration'
SELECT * FROM migrate_rollback();
CALL migrate_wait();
\echo '=== status after rollback'
SELECT * FROM migrate_status();
\d users
EOF
} >"$SCRIPT"

say "running the demo ($SCRIPT)"
if ! "${PSQL[@]}" -q -d demo -f "$SCRIPT"; then
	echo
	echo "--- tail of $DEMO/server.log"
	tail -n 60 "$DEMO/server.log" || true
	echo
	echo "DEMO FAILED.  The cluster is still running for inspection:"
	echo "  psql -h $DEMO -p $PORT demo"
	echo "  runuser -u postgres -- $BINDIR/pg_ctl -D $DEMO/data stop"
	exit 1
fi

say "the demo cluster is running"
echo "  connect: psql -h $DEMO -p $PORT demo"
echo "           (as any OS user that can reach $DEMO: psql -h $DEMO -p $PORT -U postgres demo)"
echo "  log:     $DEMO/server.log"
echo "  stop:    runuser -u postgres -- $BINDIR/pg_ctl -D $DEMO/data stop"
