#!/bin/bash
# test/bench/apply_bench.sh - how much does migrate_apply() cost over plain psql?
#
# A benchmark script, not a timed test: it prints numbers, it does not fail on
# them.  It starts its own throwaway PostgreSQL 15 cluster (as the postgres OS
# user, under /tmp, migrate preloaded), then for each round:
#   db A: registers N generated migrations (not timed), then times
#         SELECT count(*) FROM migrate_apply();  (+ CALL migrate_wait();)
#   db B: times plain psql running the same SQL as one file, every migration
#         wrapped in BEGIN; ... COMMIT;
#   db C: times the whole `pg_migrate up` process over a folder of N
#         golang-migrate files (registration included, cold: a new process)
#   db D, E: the same folder as dbmate files (`dbmate up`) and as
#         node-pg-migrate SQL files (`node-pg-migrate up`), when npm can
#         install them (npm install dbmate node-pg-migrate pg)
# Each round uses fresh databases; the order of the sides alternates.  It
# prints per-round times, the medians and the ratios migrate/psql (the target
# is <= 1.2) and pg_migrate/dbmate (the target is <= 0.8), stops the cluster
# and ends with a block to paste into a README.
#
# Run as root (it runs the server as postgres).  Knobs:
#   BENCH_MIGRATIONS (500)  BENCH_ROUNDS (3)  BENCH_PORT (first port tried, 5599)
#   BENCH_NO_BUILD=1        skip `make && make install` (use what is installed)
#   BENCH_KEEP=1            keep the cluster directory afterwards
#   BENCH_NPM_DIR           where dbmate and node-pg-migrate are (or get)
#                           installed (default: a directory in the cluster's)
#   BENCH_NO_NPM=1          leave dbmate and node-pg-migrate out
set -euo pipefail
shopt -s inherit_errexit  # errors inside $(...) stop the script too

SCRIPT_NAME=apply_bench
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
N=${BENCH_MIGRATIONS:-500}
ROUNDS=${BENCH_ROUNDS:-3}
FIRST_PORT=${BENCH_PORT:-5599}
TARGET=1.2

build_and_install
[ -f "$("$PG_CONFIG" --sharedir)/extension/migrate.control" ] || die "migrate is not installed (make install)"

DIR=$(mktemp -d /tmp/migrate-bench.XXXXXX)
chown postgres:postgres "$DIR"
chmod 700 "$DIR"

port_in_use() {
	local p=$1
	[ -e "/var/run/postgresql/.s.PGSQL.$p" ] || [ -e "/tmp/.s.PGSQL.$p" ] ||
		timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null
}
PORT=$FIRST_PORT
while port_in_use "$PORT"; do PORT=$((PORT + 1)); done

STARTED=0
cleanup() {
	local rc=$?
	if [ "$STARTED" = 1 ]; then
		as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$DIR/server.log" ]; then
		echo "--- tail of $DIR/server.log" >&2
		tail -n 40 "$DIR/server.log" >&2 || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		echo "cluster directory kept: $DIR" >&2
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT

echo "== cluster in $DIR (port $PORT, unix socket only)"
as_pg "$BINDIR/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
cat >>"$DIR/data/postgresql.conf" <<EOF

# --- migrate apply benchmark ---
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
shared_preload_libraries = 'migrate'
max_worker_processes = 16
EOF
as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
STARTED=1

PSQL=("$BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)

# ------------------------------------------------------ the workload ----
# Migration i: a table with a primary key and a secondary index.
#   up:   CREATE TABLE bench_i (...); CREATE INDEX bench_i_v_idx ON bench_i (v);
#   down: DROP TABLE bench_i;
# gen_files N PREFIX -> PREFIX.register.sql (migrate_register calls) and
# PREFIX.plain.sql (the same SQL, each migration in BEGIN; ... COMMIT;)
gen_files() {
	awk -v q="'" -v n="$1" -v reg="$2.register.sql" -v plain="$2.plain.sql" 'BEGIN {
		for (i = 1; i <= n; i++) {
			up = sprintf("CREATE TABLE bench_%d (id bigint PRIMARY KEY, v text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\nCREATE INDEX bench_%d_v_idx ON bench_%d (v);", i, i, i)
			printf "SELECT migrate_register(" q "%04d" q ", " q "bench_%d" q ", $up$%s$up$, $dn$DROP TABLE bench_%d;$dn$);\n", i, i, up, i > reg
			printf "BEGIN;\n%s\nCOMMIT;\n", up > plain
		}
	}'
	chmod 644 "$2.register.sql" "$2.plain.sql"
}
gen_files "$N" "$DIR/bench"
gen_files 50 "$DIR/warmup"

# gen_folders N PREFIX -> PREFIX.gm/ (golang-migrate), PREFIX.dbmate/ and
# PREFIX.npm/ (node-pg-migrate SQL) holding the same migrations as files
gen_folders() {
	mkdir -p "$2.gm" "$2.dbmate" "$2.npm"
	awk -v n="$1" -v d="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			up = sprintf("CREATE TABLE bench_%d (id bigint PRIMARY KEY, v text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\nCREATE INDEX bench_%d_v_idx ON bench_%d (v);\n", i, i, i)
			down = sprintf("DROP TABLE bench_%d;\n", i)
			f = sprintf("%s.gm/%04d_bench_%d.up.sql", d, i, i); printf "%s", up > f; close(f)
			f = sprintf("%s.gm/%04d_bench_%d.down.sql", d, i, i); printf "%s", down > f; close(f)
			f = sprintf("%s.dbmate/2024%010d_bench_%d.sql", d, i, i)
			printf "-- migrate:up\n%s\n-- migrate:down\n%s", up, down > f; close(f)
			f = sprintf("%s.npm/17%011d_bench-%d.sql", d, i, i)
			printf "-- Up Migration\n%s\n-- Down Migration\n%s", up, down > f; close(f)
		}
	}'
	chmod -R a+rX "$2.gm" "$2.dbmate" "$2.npm"
}
gen_folders "$N" "$DIR/bench"
gen_folders 50 "$DIR/warmup"

# dbmate and node-pg-migrate, from the npm registry
NPM_DIR=${BENCH_NPM_DIR:-$DIR/npm}
HAVE_NPM=0
if [ "${BENCH_NO_NPM:-0}" != 1 ]; then
	if [ ! -x "$NPM_DIR/node_modules/.bin/dbmate" ] && command -v npm >/dev/null; then
		mkdir -p "$NPM_DIR"
		(cd "$NPM_DIR" && npm install --no-audit --no-fund dbmate node-pg-migrate pg >/dev/null 2>&1) || true
	fi
	[ -x "$NPM_DIR/node_modules/.bin/dbmate" ] && [ -x "$NPM_DIR/node_modules/.bin/node-pg-migrate" ] && HAVE_NPM=1
fi
[ "$HAVE_NPM" = 1 ] || echo "== dbmate and node-pg-migrate left out (no npm, or BENCH_NO_NPM=1)"

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# run_migrate ROUND [PREFIX COUNT] -> prints elapsed ms
run_migrate() {
	local db=bench_migrate_$1 files=${2:-$DIR/bench} n=${3:-$N} t0 ms applied tables
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
	"${PSQL[@]}" -d "$db" -c "CREATE EXTENSION migrate"
	"${PSQL[@]}" -d "$db" -1 -f "$files.register.sql" >/dev/null
	t0=$(now_ns)
	applied=$("${PSQL[@]}" -d "$db" -At -c "SELECT count(*) FROM migrate_apply()" -c "CALL migrate_wait()" | head -n 1)
	ms=$(ms_since "$t0")
	tables=$("${PSQL[@]}" -d "$db" -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'bench\_%\_v\_idx'")
	local done_n
	done_n=$("${PSQL[@]}" -d "$db" -At -c "SELECT count(*) FROM migrate_status() WHERE state = 'applied'")
	if [ "$applied" != "$n" ] || [ "$tables" != "$n" ] || [ "$done_n" != "$n" ]; then
		echo "round $1: migrate_apply returned $applied rows, $done_n applied, $tables indexes exist (expected $n)" >&2
		"${PSQL[@]}" -d "$db" -c "SELECT state, count(*), min(error) FROM migrate_status() GROUP BY state" >&2 || true
		exit 1
	fi
	echo "$ms"
}

# run_psql ROUND [PREFIX COUNT] -> prints elapsed ms
run_psql() {
	local db=bench_psql_$1 files=${2:-$DIR/bench} n=${3:-$N} t0 ms tables
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
	t0=$(now_ns)
	"${PSQL[@]}" -d "$db" -f "$files.plain.sql" >/dev/null
	ms=$(ms_since "$t0")
	tables=$("${PSQL[@]}" -d "$db" -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'bench\_%\_v\_idx'")
	[ "$tables" = "$n" ] || { echo "round $1: psql created $tables indexes, expected $n" >&2; exit 1; }
	echo "$ms"
}

# count_indexes DB N ROUND WHO: every migration's index must exist
count_indexes() {
	local tables
	tables=$("${PSQL[@]}" -d "$1" -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'bench\_%\_v\_idx'")
	[ "$tables" = "$2" ] || { echo "round $3: $4 created $tables indexes, expected $2" >&2; exit 1; }
}

# run_pg_migrate ROUND [PREFIX COUNT] -> prints elapsed ms (the whole process)
run_pg_migrate() {
	local db=bench_pgm_$1 files=${2:-$DIR/bench} n=${3:-$N} t0 ms
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
	"${PSQL[@]}" -d "$db" -c "CREATE EXTENSION migrate"
	t0=$(now_ns)
	"$BINDIR/pg_migrate" -q -h "$DIR" -p "$PORT" -U postgres -d "$db" --dir "$files.gm" up >/dev/null
	ms=$(ms_since "$t0")
	count_indexes "$db" "$n" "$1" pg_migrate
	echo "$ms"
}

# run_dbmate ROUND [PREFIX COUNT] -> prints elapsed ms
run_dbmate() {
	local db=bench_dbmate_$1 files=${2:-$DIR/bench} n=${3:-$N} t0 ms
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
	t0=$(now_ns)
	"$NPM_DIR/node_modules/.bin/dbmate" --url "postgres://postgres@localhost:$PORT/$db?socket=$DIR&sslmode=disable" \
		--migrations-dir "$files.dbmate" --no-dump-schema up >/dev/null
	ms=$(ms_since "$t0")
	count_indexes "$db" "$n" "$1" dbmate
	echo "$ms"
}

# run_npm ROUND [PREFIX COUNT] -> prints elapsed ms
run_npm() {
	local db=bench_npm_$1 files=${2:-$DIR/bench} n=${3:-$N} t0 ms
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
	t0=$(now_ns)
	DATABASE_URL="postgres://postgres@localhost/$db?host=$DIR&port=$PORT" \
		"$NPM_DIR/node_modules/.bin/node-pg-migrate" up -m "$files.npm" >/dev/null
	ms=$(ms_since "$t0")
	count_indexes "$db" "$n" "$1" node-pg-migrate
	echo "$ms"
}

MIG=()
PLN=()
PGM=()
DBM=()
NPM=()
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== warm-up (50 migrations each way, not counted); load average $LOAD_BEFORE"
run_migrate warmup "$DIR/warmup" 50 >/dev/null
run_psql warmup "$DIR/warmup" 50 >/dev/null
run_pg_migrate warmup "$DIR/warmup" 50 >/dev/null
if [ "$HAVE_NPM" = 1 ]; then
	run_dbmate warmup "$DIR/warmup" 50 >/dev/null
	run_npm warmup "$DIR/warmup" 50 >/dev/null
fi
SIDES=(migrate psql pg_migrate)
[ "$HAVE_NPM" = 1 ] && SIDES+=(dbmate npm)
echo "== $ROUNDS rounds of $N migrations (2 statements each)"
for r in $(seq 1 "$ROUNDS"); do
	# odd rounds in one order, even rounds in the reverse order
	order=("${SIDES[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		order=()
		for ((k = ${#SIDES[@]} - 1; k >= 0; k--)); do order+=("${SIDES[k]}"); done
	fi
	d=- e=-
	for side in "${order[@]}"; do
		case $side in
			migrate) m=$(run_migrate "$r") ;;
			psql) p=$(run_psql "$r") ;;
			pg_migrate) g=$(run_pg_migrate "$r") ;;
			dbmate) d=$(run_dbmate "$r") ;;
			npm) e=$(run_npm "$r") ;;
		esac
	done
	MIG+=("$m")
	PLN+=("$p")
	PGM+=("$g")
	[ "$HAVE_NPM" = 1 ] && DBM+=("$d") && NPM+=("$e")
	printf 'round %d: migrate_apply %6d ms   psql %6d ms   pg_migrate up %6d ms   dbmate %6s ms   node-pg-migrate %6s ms\n' \
		"$r" "$m" "$p" "$g" "$d" "$e"
done

MED_M=$(echo "${MIG[@]}" | median)
MED_P=$(echo "${PLN[@]}" | median)
RATIO=$(awk -v a="$MED_M" -v b="$MED_P" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
VERDICT=$(awk -v r="$RATIO" -v t="$TARGET" 'BEGIN { print (r <= t ? "within target" : "ABOVE TARGET") }')
MED_G=$(echo "${PGM[@]}" | median)
if [ "$HAVE_NPM" = 1 ]; then
	MED_D=$(echo "${DBM[@]}" | median)
	MED_E=$(echo "${NPM[@]}" | median)
	RATIO_D=$(awk -v a="$MED_G" -v b="$MED_D" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	VERDICT_D=$(awk -v r="$RATIO_D" 'BEGIN { print (r <= 0.8 ? "within target" : "ABOVE TARGET") }')
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
PGVER=$("$BINDIR/postgres" --version | sed 's/^postgres (PostgreSQL) //')
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)

as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
STARTED=0

join() {
	local out=$1
	shift
	while [ $# -gt 0 ]; do out="$out / $1"; shift; done
	echo "$out"
}
cat <<EOF

----- paste into README -----
### Apply overhead benchmark (\`test/bench/apply_bench.sh\`)

$N migrations, each \`CREATE TABLE bench_i (id bigint PRIMARY KEY, ...)\` + \`CREATE INDEX bench_i_v_idx ...\`,
applied to an empty database; $ROUNDS rounds, fresh databases each round.

| runner | per round (ms) | median (ms) |
|---|---|---|
| \`SELECT count(*) FROM migrate_apply()\` + \`CALL migrate_wait()\` | $(join "${MIG[@]}") | $MED_M |
| \`psql -f\`, each migration in \`BEGIN; ... COMMIT;\` | $(join "${PLN[@]}") | $MED_P |
| \`pg_migrate up\` of a folder of files (whole process, registration included) | $(join "${PGM[@]}") | $MED_G |
$([ "$HAVE_NPM" = 1 ] && printf '| `dbmate up` (same folder, dbmate files) | %s | %s |\n| `node-pg-migrate up` (same folder, SQL files) | %s | %s |' "$(join "${DBM[@]}")" "$MED_D" "$(join "${NPM[@]}")" "$MED_E")

Ratio migrate/psql (medians): **$RATIO** (target <= $TARGET: $VERDICT).
$([ "$HAVE_NPM" = 1 ] && echo "Ratio pg_migrate/dbmate (medians): **$RATIO_D** (target <= 0.8: $VERDICT_D).")
PostgreSQL $PGVER, $(nproc) CPUs ($CPU), default settings + \`shared_preload_libraries = 'migrate'\`, commit $COMMIT, $(date -u +%Y-%m-%d).
Load average before/after: $LOAD_BEFORE / $LOAD_AFTER (other work on the machine makes single rounds noisy).
----- end -----
EOF
