#!/bin/bash
# test/bench/guard_bench.sh - what does the DDL-safety guard cost?
#
# A benchmark script, not a timed test: it prints numbers, it does not fail on
# them.  It starts its own throwaway PostgreSQL 15 cluster (as the postgres OS
# user, under /tmp), then measures:
#
#   DDL  a generated script of BENCH_TABLES x (CREATE TABLE, ALTER TABLE ADD
#        COLUMN, CREATE INDEX, ALTER COLUMN TYPE, ADD CONSTRAINT, DROP TABLE)
#        on small tables, run by psql in a database with the extension, with
#        migrate.guard = enforce versus migrate.guard = off.  Target <= 1.05x.
#   DML  pgbench (TPC-B like, scale BENCH_SCALE, BENCH_CLIENTS clients,
#        BENCH_SECONDS per run) with migrate in shared_preload_libraries
#        versus without it.  Target 1.00x within noise.
#
# Rounds alternate the order of the two sides; the medians and their ratios
# are printed last, as a block to paste into the README.
#
# Run as root (the cluster runs as postgres).  Knobs:
#   BENCH_TABLES (1000)  BENCH_ROUNDS (5)  BENCH_SCALE (10)  BENCH_CLIENTS (4)
#   BENCH_SECONDS (15)   BENCH_PORT (first port tried, 5446)
#   BENCH_NO_BUILD=1     skip `make && make install`
set -euo pipefail

SCRIPT_NAME=guard_bench
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TABLES=${BENCH_TABLES:-1000}
ROUNDS=${BENCH_ROUNDS:-5}
SCALE=${BENCH_SCALE:-10}
CLIENTS=${BENCH_CLIENTS:-4}
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
PORT=${BENCH_PORT:-5446}

build_and_install

DIR=$(mktemp -d /tmp/guard-bench.XXXXXX)
chown postgres:postgres "$DIR"
while [ -e "$DIR/.s.PGSQL.$PORT" ] || [ -e "/tmp/.s.PGSQL.$PORT" ] || [ -e "/var/run/postgresql/.s.PGSQL.$PORT" ]; do
	PORT=$((PORT + 1))
done

STARTED=0
cleanup() {
	if [ "$STARTED" = 1 ]; then
		as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

as_pg "$BINDIR/initdb" -D "$DIR/data" >/dev/null
cat >>"$DIR/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
max_worker_processes = 16
fsync = off
synchronous_commit = off
EOF

start() {
	local preload=$1
	sed -i '/^shared_preload_libraries/d' "$DIR/data/postgresql.conf"
	[ -n "$preload" ] && echo "shared_preload_libraries = '$preload'" >>"$DIR/data/postgresql.conf"
	as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
	STARTED=1
}
stop() {
	as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
	STARTED=0
}
psql_() { as_pg "$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

# ------------------------------------------------------------------ DDL ----
start migrate
psql_ -d postgres -c 'CREATE DATABASE ddl' -c 'CREATE DATABASE dml'
psql_ -d ddl -c 'CREATE EXTENSION migrate'
DDL="$DIR/ddl.sql"
# The backend's own CPU time (utime + stime, in clock ticks) is measured too:
# it is far less sensitive than wall time to other load on the machine.
printf '%s\n' 'SELECT pg_backend_pid() AS pid \gset' '\setenv BACKEND_PID :pid' >"$DDL"
for i in $(seq 1 "$TABLES"); do
	cat <<EOF
CREATE TABLE t$i (id int PRIMARY KEY, v text, n int);
INSERT INTO t$i VALUES (1, 'a', 1), (2, 'b', 2);
ALTER TABLE t$i ADD COLUMN w timestamptz DEFAULT now();
CREATE INDEX t${i}_v_idx ON t$i (v);
ALTER TABLE t$i ALTER COLUMN n TYPE bigint;
ALTER TABLE t$i ADD CONSTRAINT t${i}_n_check CHECK (n > 0);
DROP TABLE t$i;
EOF
done >>"$DDL"
echo "\\! awk '{ print \$14 + \$15 }' /proc/\$BACKEND_PID/stat > $DIR/cpu" >>"$DDL"
chmod 644 "$DDL"
STATEMENTS=$((TABLES * 7))

# prints "wall-seconds cpu-seconds"
run_ddl() {
	local mode=$1 t0 t1
	t0=$(now)
	PGOPTIONS="-c migrate.guard=$mode" psql_ -d ddl -f "$DDL" >/dev/null
	t1=$(now)
	echo "$(echo "$t1 - $t0" | bc -l) $(echo "$(cat "$DIR/cpu") / $(getconf CLK_TCK)" | bc -l)"
}

echo "== DDL: $STATEMENTS statements on small tables, $ROUNDS rounds (enforce vs off)"
: >"$DIR/ddl_enforce"
: >"$DIR/ddl_off"
run_ddl off >/dev/null # warm-up
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="enforce off"; else order="off enforce"; fi
	for mode in $order; do
		read -r wall cpu < <(run_ddl "$mode")
		echo "$wall" >>"$DIR/ddl_$mode"
		echo "$cpu" >>"$DIR/ddlcpu_$mode"
		printf '  round %d %-8s %.3f s wall, %.2f s backend CPU\n' "$r" "$mode" "$wall" "$cpu"
	done
done
DDL_ON=$(median <"$DIR/ddl_enforce")
DDL_OFF=$(median <"$DIR/ddl_off")
DDLCPU_ON=$(median <"$DIR/ddlcpu_enforce")
DDLCPU_OFF=$(median <"$DIR/ddlcpu_off")

# ------------------------------------------------------------------ DML ----
as_pg "$BINDIR/pgbench" -h "$DIR" -p "$PORT" -i -q -s "$SCALE" dml >/dev/null 2>&1
stop

run_dml() {
	local preload=$1
	start "$preload"
	as_pg "$BINDIR/pgbench" -h "$DIR" -p "$PORT" -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -n dml 2>/dev/null |
		awk '/^tps = / { print $3 }'
	stop
}

echo "== DML: pgbench -c $CLIENTS -T $SECONDS_PER_RUN, scale $SCALE, $ROUNDS rounds (library loaded vs not)"
: >"$DIR/dml_loaded"
: >"$DIR/dml_plain"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then order="loaded plain"; else order="plain loaded"; fi
	for side in $order; do
		if [ "$side" = loaded ]; then tps=$(run_dml migrate); else tps=$(run_dml ""); fi
		echo "$tps" >>"$DIR/dml_$side"
		printf '  round %d %-7s %.0f tps\n' "$r" "$side" "$tps"
	done
done
DML_ON=$(median <"$DIR/dml_loaded")
DML_OFF=$(median <"$DIR/dml_plain")

echo
echo "== result (medians; $(nproc) CPUs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'))"
printf '| DDL script, %d statements, wall time | guard enforce %.3f s | guard off %.3f s | ratio %.3fx (target <= 1.05x) |\n' \
	"$STATEMENTS" "$DDL_ON" "$DDL_OFF" "$(echo "$DDL_ON / $DDL_OFF" | bc -l)"
printf '| DDL script, %d statements, backend CPU | guard enforce %.2f s | guard off %.2f s | ratio %.3fx (target <= 1.05x) |\n' \
	"$STATEMENTS" "$DDLCPU_ON" "$DDLCPU_OFF" "$(echo "$DDLCPU_ON / $DDLCPU_OFF" | bc -l)"
printf '| pgbench TPC-B, %d clients, %d s | loaded %.0f tps | not loaded %.0f tps | ratio %.3fx (target 1.00x) |\n' \
	"$CLIENTS" "$SECONDS_PER_RUN" "$DML_ON" "$DML_OFF" "$(echo "$DML_OFF / $DML_ON" | bc -l)"
