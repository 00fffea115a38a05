#!/bin/bash
# test/bench/backfill_bench.sh - what does migrate_backfill() cost, and what
# does it do to the application's latency?
#
# A benchmark script, not a timed test: it prints numbers, it does not fail
# on them.  It starts its own throwaway PostgreSQL 15 cluster (as the
# postgres OS user, under /tmp, migrate preloaded) and, on a fresh copy of a
# BENCH_ROWS-row table each time (VACUUM ANALYZE + CHECKPOINT first), times
#   1. one plain UPDATE t SET norm = lower(email) WHERE norm IS DISTINCT FROM ...
#   2. the usual SKIP LOCKED loop of the patterns note (a DO block, 10,000 rows
#      per batch, COMMIT per batch; its pg_sleep(0.1) left out, like ours)
#   3. migrate_backfill() with throttling off (migrate.backfill_sleep_ms = 0),
#      from the call until migrate_backfill_wait() returns
#   4. the same with BENCH_WORKERS workers (migrate.backfill_workers)
#   5. (3) with migrate.backfill_wal_compression = off
# BENCH_ROUNDS times, (1), (3), (4) and (5) in turn (the loop, ~3.5x slower,
# once; see in_turn), and prints the medians, the ranges and the ratios of the medians to
# (1) (target <= 1.10), the WAL each wrote, plus the longest time any batch
# held its row locks (max_batch_ms; target <= 200 ms).  Then, BENCH_ROUNDS times, it runs a
# rate-limited pgbench workload (point UPDATEs of another column of the same
# table) alone, and again during the first BENCH_SPAN seconds of a backfill
# with default settings, of one with no pause but capped at BENCH_CAP rows
# per second (max_rows_per_second) and of an unthrottled one, and prints
# the p99 latency of each, pooled over the rounds, counting only the
# transactions that ended in the span (target: during the default backfill
# <= 1.5 x alone).  A 4,000-transaction span has only 40 in its top 1%:
# pooling is what makes the p99 repeatable.
# The four spans of a round run one after the other, so that the drift of
# a shared machine's latency between them stays small; runs and spans go in
# the reverse order in even rounds.
# Last, the same comparison within one pgbench run: a default backfill
# resumed and paused in turn, BENCH_WINDOW-second windows, BENCH_PAIRS
# windows with it between BENCH_PAIRS + 1 without (a CHECKPOINT at the
# start of each, so that the backfill writes the first image of every page
# it reaches, as after any checkpoint); each window's p99, and the median
# over the windows with it of the ratio to the mean of the two around it,
# which a burst of the machine's own latency in one window cannot move.
#
# Run as root.  Knobs: BENCH_ROWS (1000000)  BENCH_ROUNDS (3)
#   BENCH_CAP (10000)  BENCH_WORKERS (2)  BENCH_PORT (5590)  BENCH_RATE (pgbench -R, 200)
#   BENCH_SPAN (20)  BENCH_PAIRS (8, 0: none)  BENCH_WINDOW (15)  BENCH_NO_BUILD=1
#   BENCH_KEEP=1  BENCH_CONF (lines for postgresql.conf, e.g. other
#   migrate.backfill_* defaults)
set -euo pipefail
shopt -s inherit_errexit

SCRIPT_NAME=backfill_bench
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ROWS=${BENCH_ROWS:-1000000}
PORT=${BENCH_PORT:-5590}
RATE=${BENCH_RATE:-200}
ROUNDS=${BENCH_ROUNDS:-3}
CAP=${BENCH_CAP:-10000}
WORKERS=${BENCH_WORKERS:-2}
SPAN=${BENCH_SPAN:-20}
PAIRS=${BENCH_PAIRS:-8}
WINDOW=${BENCH_WINDOW:-15}

build_and_install

DIR=$(mktemp -d /tmp/migrate-bfbench.XXXXXX)
chown postgres:postgres "$DIR"
STARTED=0
cleanup() {
	[ "$STARTED" = 1 ] && as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT

as_pg "$BINDIR/initdb" -D "$DIR/data" -A trust >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
shared_preload_libraries = 'migrate'
max_worker_processes = 16
shared_buffers = 512MB
max_wal_size = 4GB
checkpoint_timeout = 30min
# the bench drops and recreates its large table between runs
migrate.guard = off
${BENCH_CONF:-}
CONF
as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
STARTED=1
psql() { as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -d postgres "$@"; }
psql -c 'CREATE EXTENSION migrate'

fresh() {
	psql -c "DROP TABLE IF EXISTS t" \
		-c "CREATE TABLE t (id bigint PRIMARY KEY, email text NOT NULL, norm text, v int NOT NULL DEFAULT 0)" \
		-c "INSERT INTO t (id, email) SELECT g, 'User' || g || '@Example.COM' FROM generate_series(1, $ROWS) g" \
		-c "VACUUM ANALYZE t" -c "CHECKPOINT"
}
now_ms() { date +%s%3N; }
lsn() { psql -At -c "SELECT pg_current_wal_insert_lsn()"; }
# MB of WAL written since the position $1
wal_since() { psql -At -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$1') / 1048576)"; }
# ms the command takes; the WAL it writes goes to $DIR/wal
timed() {
	local t0 t1 l0
	l0=$(lsn)
	t0=$(now_ms)
	"$@" >/dev/null
	t1=$(now_ms)
	wal_since "$l0" >"$DIR/wal"
	echo $((t1 - t0))
}
check_done() {
	[ "$(psql -At -c 'SELECT count(*) FROM t WHERE norm IS DISTINCT FROM lower(email)')" = 0 ] ||
		die "rows left after $1"
}

echo "== $ROWS rows, $(nproc) CPUs, $ROUNDS rounds"
range() { tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# ms from migrate_backfill() with $1 workers and no pause until
# migrate_backfill_wait() returns, on a fresh table; its batches, passes and
# WAL go to $DIR/job, and the longest time one of its batches held its locks
# to $DIR/maxms if it is the longest so far
timed_backfill() {
	local t0 t1 l0 job batches ms passes
	fresh
	l0=$(lsn)
	t0=$(now_ms)
	job=$(psql -At -c "SET migrate.backfill_sleep_ms = 0" -c "SET migrate.backfill_workers = $1" \
		-c "SELECT migrate_backfill('t', 'norm', 'lower(email)')")
	psql -At -c "SELECT migrate_backfill_wait($job)" >/dev/null
	t1=$(now_ms)
	check_done "migrate_backfill with $1 worker(s)"
	read -r batches ms passes < <(psql -At -F ' ' -c "SELECT batches, round(max_batch_ms), pass FROM migrate_backfill_status($job)")
	echo "$batches batches, $passes passes, $(wal_since "$l0") MB of WAL" >"$DIR/job"
	[ "$ms" -le "$(cat "$DIR/maxms")" ] || echo "$ms" >"$DIR/maxms"
	echo $((t1 - t0))
}
# the WAL compression of batches is a server setting
wal_compression() {
	psql -c "ALTER SYSTEM SET migrate.backfill_wal_compression = $1" -c "SELECT pg_reload_conf()" >/dev/null
}
plains=
migrates=
parallels=
plainzs=
plainwals=
wals=
rawwals=
echo 0 >"$DIR/maxms"
# The runs of a round, each on a fresh table (the round number is $1).
time_plain() {
	fresh
	plains="$plains $(timed psql -c "UPDATE t SET norm = lower(email) WHERE norm IS DISTINCT FROM lower(email)")"
	plainwals="$plainwals $(cat "$DIR/wal")"
	check_done "the plain UPDATE"
	echo "   round $1: plain $(echo "$plains" | awk '{print $NF}') ms ($(cat "$DIR/wal") MB of WAL)"
}
time_one() {
	local ms
	ms=$(timed_backfill 1)
	migrates="$migrates $ms"
	wals="$wals $(awk '{print $(NF - 3)}' "$DIR/job")"
	echo "   round $1: migrate_backfill $ms ms ($(cat "$DIR/job"))"
}
time_parallel() {
	local ms
	ms=$(timed_backfill "$WORKERS")
	parallels="$parallels $ms"
	echo "   round $1: migrate_backfill with $WORKERS workers $ms ms ($(cat "$DIR/job"))"
}
time_uncompressed() {
	local ms
	wal_compression off
	ms=$(timed_backfill 1)
	wal_compression on
	plainzs="$plainzs $ms"
	rawwals="$rawwals $(awk '{print $(NF - 3)}' "$DIR/job")"
	echo "   round $1: migrate_backfill, WAL compression off, $ms ms ($(cat "$DIR/job"))"
}
# Even rounds run in the reverse order: a run's place in the round matters
# here (the WAL segments the runs before it left to recycle, say), so each
# method takes each place equally often.
in_turn() {
	local r=$1 runs
	shift
	runs="$*"
	[ $((r % 2)) = 1 ] || runs=$(echo "$runs" | tr ' ' '\n' | tac | tr '\n' ' ')
	for run in $runs; do
		"$run" "$r"
	done
}
for r in $(seq "$ROUNDS"); do
	in_turn "$r" time_plain time_one time_parallel time_uncompressed
done

fresh
loop=$(timed psql -c "
DO \$\$
DECLARE rows_updated int;
BEGIN
  LOOP
    UPDATE t SET norm = lower(email)
    WHERE id IN (SELECT id FROM t WHERE norm IS NULL LIMIT 10000 FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS rows_updated = ROW_COUNT;
    EXIT WHEN rows_updated = 0;
    COMMIT;
  END LOOP;
END \$\$")
check_done "the SKIP LOCKED loop"

# --- application latency: pgbench alone, then during a default backfill
cat >"$DIR/app.sql" <<'SQL'
\set id random(1, :rows)
UPDATE t SET v = v + 1 WHERE id = :id;
SQL
chown postgres "$DIR/app.sql"
# latencies (us) of the transactions that ended in [from, to] (epoch ms):
# pgbench -l fields are client, transaction, latency, script, epoch s, us
latencies() {
	cat "$DIR"/pgbench_log.* |
		awk -v from="$1" -v to="$2" '{t = $5 * 1000 + int($6 / 1000)} t >= from && t <= to {print $3}'
}
p99() { sort -n | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i] / 1000}'; }
bench_app() {
	rm -f "$DIR"/pgbench_log.*
	(cd "$DIR" && as_pg "$BINDIR/pgbench" -n -h "$DIR" -p "$PORT" -c 4 -j 2 -R "$RATE" -T "$1" \
		-D rows="$ROWS" -f "$DIR/app.sql" -l --log-prefix="$DIR/pgbench_log" postgres) >/dev/null 2>&1
}
# The latencies of the transactions that ended in the first SPAN s after a
# backfill was submitted with the extra migrate_backfill() arguments $1
# ('-': no backfill, the same span alone), after the settings $3, go to $2,
# and their p99 to stdout; the backfill is cancelled after the span, and the
# longest time one of its batches held its locks and the rows it did go to
# $DIR/job.
p99_window() {
	local app t0 t1 job ms rows
	fresh
	bench_app $((SPAN + 3)) &
	app=$!
	sleep 1
	t0=$(now_ms)
	if [ "$1" = - ]; then
		sleep "$SPAN"
		t1=$(now_ms)
		echo 0 0 >"$DIR/job"
	else
		job=$(psql -At -c "${3:-RESET ALL}" -c "SELECT migrate_backfill('t', 'norm', 'lower(email)'$1)")
		sleep "$SPAN"
		# the span ends early if the job does
		read -r t1 ms rows < <(psql -At -F ' ' -c "SELECT
			coalesce((extract(epoch FROM finished_at) * 1000)::bigint, $(now_ms)),
			coalesce(round(max_batch_ms), 0), rows_done FROM migrate_backfill_status($job)")
		echo "$ms $rows" >"$DIR/job"
		psql -At -c "SELECT migrate_backfill_cancel(id) FROM migrate_backfill_status($job)
			WHERE state IN ('queued', 'running', 'paused')" >/dev/null
	fi
	wait "$app"
	latencies "$t0" "$t1" >"$DIR/round.us"
	cat "$DIR/round.us" >>"$2"
	p99 <"$DIR/round.us"
}
: >"$DIR/solo.us"
: >"$DIR/during.us"
: >"$DIR/capped.us"
: >"$DIR/fast.us"
solos=
durings=
cappeds=
fasts=
rates=
maxms2=0
# The spans of a round.
span_solo() { solos="$solos $(p99_window - "$DIR/solo.us")"; }
span_during() {
	local ms rows
	durings="$durings $(p99_window "" "$DIR/during.us")"
	read -r ms rows <"$DIR/job"
	maxms2=$((ms > maxms2 ? ms : maxms2))
	rates="$rates $((rows / SPAN))"
}
span_capped() {
	cappeds="$cappeds $(p99_window ", max_rows_per_second => $CAP" "$DIR/capped.us" "SET migrate.backfill_sleep_ms = 0")"
}
span_fast() {
	local ms rows
	fasts="$fasts $(p99_window "" "$DIR/fast.us" "SET migrate.backfill_sleep_ms = 0")"
	read -r ms rows <"$DIR/job"
	maxms2=$((ms > maxms2 ? ms : maxms2))
}
for r in $(seq "$ROUNDS"); do
	in_turn "$r" span_solo span_during span_capped span_fast
	echo "   round $r: p99 alone $(echo "$solos" | awk '{print $NF}') ms, during a default backfill $(echo "$durings" | awk '{print $NF}') ms ($(echo "$rates" | awk '{print $NF}') rows/s), capped at $CAP rows/s $(echo "$cappeds" | awk '{print $NF}') ms, unthrottled $(echo "$fasts" | awk '{print $NF}') ms"
done
# --- the default backfill on and off in turn within one pgbench run
pair_ratios=
if [ "$PAIRS" -gt 0 ]; then
	fresh
	bench_app $(((2 * PAIRS + 1) * WINDOW + 6)) &
	app=$!
	sleep 2
	job=$(psql -At -c "SELECT migrate_backfill('t', 'norm', 'lower(email)')")
	psql -At -c "SELECT migrate_backfill_pause($job)" -c "SELECT migrate_backfill_wait($job)" >/dev/null
	: >"$DIR/windows"
	for w in $(seq 0 $((2 * PAIRS))); do
		psql -c CHECKPOINT
		t0=$(now_ms)
		[ $((w % 2)) = 0 ] || psql -At -c "SELECT migrate_backfill_resume($job)" >/dev/null
		sleep "$WINDOW"
		# the wait returns when the worker has stopped after its batch
		[ $((w % 2)) = 0 ] ||
			psql -At -c "SELECT migrate_backfill_pause($job)" -c "SELECT migrate_backfill_wait($job)" >/dev/null
		echo "$w $t0 $(now_ms)" >>"$DIR/windows"
	done
	wait "$app"
	read -r pair_rows pair_batches < <(psql -At -F ' ' -c "SELECT rows_done, batches FROM migrate_backfill_status($job)")
	psql -At -c "SELECT migrate_backfill_cancel($job)" >/dev/null
	: >"$DIR/pair_on.us"
	: >"$DIR/pair_off.us"
	while read -r w t0 t1; do
		latencies "$t0" "$t1" >"$DIR/round.us"
		if [ $((w % 2)) = 1 ]; then cat "$DIR/round.us" >>"$DIR/pair_on.us"; else cat "$DIR/round.us" >>"$DIR/pair_off.us"; fi
		echo "$w $(p99 <"$DIR/round.us")"
	done <"$DIR/windows" >"$DIR/window_p99"
	echo "   windows' p99 (ms; odd: with the backfill): $(awk '{printf "%s%s", (NR > 1 ? " " : ""), $2}' "$DIR/window_p99")"
	pair_ratios=$(awk '{p[$1] = $2} END {for (w = 1; w < 2 * '"$PAIRS"'; w += 2) printf "%.2f ", p[w] / ((p[w - 1] + p[w + 1]) / 2)}' "$DIR/window_p99")
fi

solo=$(p99 <"$DIR/solo.us")
during=$(p99 <"$DIR/during.us")
capped=$(p99 <"$DIR/capped.us")
fast=$(p99 <"$DIR/fast.us")

plain=$(echo "$plains" | median)
migrate=$(echo "$migrates" | median)
parallel=$(echo "$parallels" | median)
plainz=$(echo "$plainzs" | median)
echo
echo "== results ($ROWS rows; medians of $ROUNDS rounds, range in brackets)"
printf '%-44s %8s ms  %6s x  [%s]\n' "plain UPDATE" "$plain" "1.00" "$(echo "$plains" | range)"
printf '%-44s %8s ms  %6s x  (1 run)\n' "SKIP LOCKED loop (patterns note, no sleep)" "$loop" "$(ratio "$loop" "$plain")"
printf '%-44s %8s ms  %6s x  [%s]  (target <= 1.10)\n' "migrate_backfill, sleep 0" "$migrate" "$(ratio "$migrate" "$plain")" "$(echo "$migrates" | range)"
printf '%-44s %8s ms  %6s x  [%s]  (target <= 1.10)\n' "migrate_backfill, sleep 0, $WORKERS workers" "$parallel" "$(ratio "$parallel" "$plain")" "$(echo "$parallels" | range)"
printf '%-44s %8s ms  %6s x  [%s]\n' "migrate_backfill, sleep 0, WAL uncompressed" "$plainz" "$(ratio "$plainz" "$plain")" "$(echo "$plainzs" | range)"
echo "   WAL written (median MB): plain UPDATE $(echo "$plainwals" | median), migrate_backfill $(echo "$wals" | median), with WAL compression off $(echo "$rawwals" | median)"
echo "   longest time a batch held its locks: $(cat "$DIR/maxms") ms unthrottled, ${maxms2} ms under load (target <= 200)"
echo "pgbench p99 (-c 4 -R $RATE, UPDATE by id), pooled over the rounds:"
printf '   %-50s %6s ms  %6s x  [%s]\n' "alone" "$solo" "1.00" "$(echo "$solos" | range)"
printf '   %-50s %6s ms  %6s x  [%s]  (target <= 1.5)\n' "during a default backfill ($(echo "$rates" | median) rows/s)" "$during" "$(ratio "$during" "$solo")" "$(echo "$durings" | range)"
printf '   %-50s %6s ms  %6s x  [%s]\n' "during a backfill at $CAP rows/s (cap, no sleep)" "$capped" "$(ratio "$capped" "$solo")" "$(echo "$cappeds" | range)"
printf '   %-50s %6s ms  %6s x  [%s]\n' "during an unthrottled backfill (sleep_ms 0)" "$fast" "$(ratio "$fast" "$solo")" "$(echo "$fasts" | range)"
if [ "$PAIRS" -gt 0 ]; then
	pair_on=$(p99 <"$DIR/pair_on.us")
	pair_off=$(p99 <"$DIR/pair_off.us")
	echo "default backfill resumed and paused in turn, ${WINDOW} s windows of one pgbench run ($PAIRS with it, $((PAIRS + 1)) without; $pair_rows rows in $pair_batches batches):"
	printf '   %-50s %6s x  [%s]  (target <= 1.5)\n' "median of each window's p99 / its neighbours'" "$(ratio "$(echo "$pair_ratios" | median)" 1)" "$(echo "$pair_ratios" | range)"
	printf '   %-50s %6s ms against %s ms without, %s x\n' "pooled p99 of the windows with it" "$pair_on" "$pair_off" "$(ratio "$pair_on" "$pair_off")"
fi
