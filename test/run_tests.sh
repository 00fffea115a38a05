#!/bin/bash
# test/run_tests.sh - build, install and run every test stage of `migrate`.
#
# This is what `make test` and CI run (after test/setup.sh and the
# chroots).  It must run as root: it installs the extension into the
# PostgreSQL 15 tree, then runs the tests as the `postgres` OS user, because
# initdb/pg_regress --temp-instance and the TAP framework refuse to run as
# root.
#
#   1. make && make install (as root, in the checkout)
#   2. copy the source tree (without .git) to a fresh /tmp/migrate-test.XXXXXX
#      owned by postgres, so the checkout itself may live where postgres
#      cannot read or write
#   3. run the three pgxs installcheck stages there, separately, so that one
#      failing stage does not hide the others:
#        regress   make installcheck ISOLATION= TAP_TESTS=
#        isolation make installcheck REGRESS= TAP_TESTS=
#        TAP       make installcheck REGRESS= ISOLATION= PROVE_FLAGS=-v
#   4. count results; on failure print the diffs and log tails.
#   5. the same again on PostgreSQL 17 and 18, each in the Debian chroot
#      test/pgchroot.sh made (`make chroots`; a version whose chroot does
#      not exist is skipped, and says so): this script runs inside it, on a
#      copy of the checkout without build products, and its counts are
#      added to these.
#
# Every stage is labelled with its version (pg15 regress, pg17 tap...).  The
# last line printed is always exactly "N passed, N failed", for all versions
# together; the exit status is non-zero when anything failed or when no test
# ran at all.
#
# Environment knobs (all optional):
#   MIGRATE_TEST_BUDGET  seconds for each version's run (default 840, i.e. 14 min)
#   MIGRATE_KEEP_WORKDIR keep the /tmp copy even when everything passed (1)
#   MIGRATE_STAGES       the stages to run (default "regress isolation tap")
#   MIGRATE_TAP          the TAP files to run, as globs (default "test/t/*.pl")
#   MIGRATE_WORKROOT     where the private copy is made (default /tmp)
#   MIGRATE_CHROOT_VERSIONS  the versions to run in chroots after PG_CONFIG's
#                        (default "17 18"; empty: PG_CONFIG's only)
#   MIGRATE_CHROOT_TAP   the TAP files there (default: MIGRATE_TAP's)
set -uo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUDGET=${MIGRATE_TEST_BUDGET:-840}
START=$(date +%s)
DEADLINE=$((START + BUDGET))
CHROOT_VERSIONS=${MIGRATE_CHROOT_VERSIONS-17 18}
# the stage label: pg15, pg17...
VER=pg$("$PG_CONFIG" --version 2>/dev/null | sed -E 's/^[^0-9]*([0-9]+).*/\1/')

# Per-stage ceilings (seconds); each stage also stops at the global deadline.
REGRESS_CAP=300
ISOLATION_CAP=300
TAP_CAP=480

PASSED=0
FAILED=0
WORK=
CHROOT_SRC=
SUMMARY=()

say() { printf '\n=== %s\n' "$*"; }

finish() {
	# Print the one-line summary last, and nothing after it.
	local rc=0
	if [ "$FAILED" -gt 0 ] || [ $((PASSED + FAILED)) -eq 0 ]; then
		rc=1
	fi
	if [ $((PASSED + FAILED)) -eq 0 ]; then
		SUMMARY+=("no test ran at all: exit status 1")
	fi
	echo
	echo "=== summary (workdir: ${WORK:-none}, $(($(date +%s) - START))s)"
	local line
	for line in "${SUMMARY[@]}"; do
		echo "  $line"
	done
	echo "$PASSED passed, $FAILED failed"
	exit "$rc"
}

# Stop any server left running under the work directory (a stage killed by
# its timeout, or a TAP test that died without stopping its nodes).  Only the
# postmasters whose data directory lies inside $WORK are touched.
stop_leftover_servers() {
	[ -n "$WORK" ] && [ -d "$WORK" ] || return 0
	local pidfile datadir pid
	while IFS= read -r pidfile; do
		datadir=$(dirname "$pidfile")
		pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
		echo "stopping leftover server in $datadir (pid ${pid:-?})"
		(cd / && runuser -u postgres -- "$($PG_CONFIG --bindir)/pg_ctl" -D "$datadir" \
			-m immediate -w -t 30 stop) >/dev/null 2>&1 ||
			{ [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; } || true
	done < <(find "$WORK" -name postmaster.pid -type f 2>/dev/null)
}

cleanup_workdir() {
	stop_leftover_servers
	[ -n "$CHROOT_SRC" ] && rm -rf "$CHROOT_SRC"
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$FAILED" -eq 0 ] && [ $((PASSED + FAILED)) -gt 0 ] &&
			[ "${MIGRATE_KEEP_WORKDIR:-0}" != 1 ]; then
			rm -rf "$WORK"
			WORK="$WORK (removed)"
		else
			echo "test work directory kept for inspection: $WORK (remove with: rm -rf $WORK)"
		fi
	fi
}

on_signal() {
	trap - INT TERM
	echo
	echo "interrupted"
	FAILED=$((FAILED + 1))
	SUMMARY+=("interrupted by a signal")
	cleanup_workdir
	finish
}
trap on_signal INT TERM

# Print a file with a header, truncated to $2 lines from the start ("head")
# or from the end ("tail").
show_file() {
	local file=$1 lines=$2 mode=${3:-head}
	[ -s "$file" ] || return 0
	echo "----- ${file#"$WORK"/} ($(wc -l <"$file") lines; $mode $lines) -----"
	if [ "$mode" = tail ]; then
		tail -n "$lines" "$file"
	else
		head -n "$lines" "$file"
	fi
	echo "----- end of ${file#"$WORK"/} -----"
}

# Count pg_regress / pg_isolation_regress results in a log.  PG15 prints
#   test NAME   ... ok  12 ms        (serial test)
#        NAME   ... FAILED  12 ms    (member of a parallel group)
# "failed (ignored)" does not fail the run, so it counts as passed.  From
# PG16 on the lines are TAP: "ok 1   - NAME  12 ms" ("+" in a parallel
# group), "not ok 2   - NAME  12 ms".
count_regress() {
	local log=$1
	local ok bad
	ok=$(grep -cE '^((test +| +)[^ ]+ +\.\.\. +(ok|failed \(ignored\))|ok +[0-9]+ +[-+] )' "$log")
	bad=$(grep -cE '^((test +| +)[^ ]+ +\.\.\. +FAILED|not ok +[0-9]+ +[-+] )' "$log")
	echo "$ok $bad"
}

# Count TAP results in `prove -v` output: top-level "ok N" / "not ok N" lines
# (a "not ok ... # TODO" is an expected failure and counts as passed), plus one
# failure for every test file that prove's summary reports as broken (non-zero
# exit, bad plan, parse errors: "Dubious" in the running output) without any
# failing assertion of its own, plus one for every file in $TAP_FILES that
# never started (prove bailed out, or the stage was killed).
count_tap() {
	local log=$1
	awk -v badfiles="$WORK/tap.bad_files" -v expected="$TAP_FILES" '
		/^[^ ]+\.pl \.+( |$)/ { started[$1] = 1 }
		/^(FAILED--Further testing stopped|Bail out!)/ { bailed = 1 }
		/^ok [0-9]+/ { ok++; next }
		/^not ok [0-9]+/ {
			if ($0 ~ /# *TODO/) ok++; else bad++
			next
		}
		/^Test Summary Report/ { insum = 1; next }
		insum && /^[^ ].*\(Wstat: [0-9]+.*Tests: [0-9]+ Failed: [0-9]+\)/ {
			file = $1
			match($0, /Failed: [0-9]+/)
			nfail[file] = substr($0, RSTART + 8, RLENGTH - 8) + 0
			order[++n] = file
			next
		}
		insum && /^ +(Non-zero exit status|Non-zero wait status|Parse errors|No subtests run|Bad plan)/ {
			broken[file] = 1
			next
		}
		insum && /^Files=/ { insum = 0 }
		END {
			extra = 0
			printf "" > badfiles
			for (i = 1; i <= n; i++) {
				f = order[i]
				if (nfail[f] > 0 || broken[f])
					print f > badfiles
				if (broken[f] && nfail[f] == 0) {
					extra++
					print "TAP file broken without a failing assertion (counted as 1 failure): " f > "/dev/stderr"
				}
			}
			# Files prove never started (it bailed out, or was killed): one
			# failure each, they may hide anything.
			nexp = split(expected, want, " ")
			for (i = 1; i <= nexp; i++)
				if (!(want[i] in started)) {
					extra++
					print want[i] > badfiles
					print "TAP file never ran" (bailed ? " (prove bailed out)" : "") " (counted as 1 failure): " want[i] > "/dev/stderr"
				}
			printf "%d %d\n", ok + 0, bad + extra
		}
	' "$log"
}

# run_stage NAME CAP COUNTER MAKE-ARGS...
# Runs `make installcheck MAKE-ARGS` as postgres in $WORK with a timeout,
# tees the output to $WORK/NAME.stage.log, and adds to PASSED/FAILED.
# Sets STAGE_FAILED_COUNT for the caller.
run_stage() {
	local name=$1 cap=$2 counter=$3
	shift 3
	local log="$WORK/$name.stage.log"
	local now remaining limit rc ok bad
	now=$(date +%s)
	remaining=$((DEADLINE - now))
	limit=$cap
	[ "$remaining" -lt "$limit" ] && limit=$remaining
	say "stage $VER $name: make installcheck $* (timeout ${limit}s)"
	if [ "$limit" -lt 20 ]; then
		echo "no time left in the ${BUDGET}s budget; stage $VER $name not run"
		FAILED=$((FAILED + 1))
		STAGE_FAILED_COUNT=1
		SUMMARY+=("$VER $name: not run (time budget exhausted)")
		return
	fi
	(cd "$WORK" && runuser -u postgres -- \
		timeout -k 20 "$limit" make PG_CONFIG="$PG_CONFIG" installcheck "$@") 2>&1 |
		tee "$log"
	rc=${PIPESTATUS[0]}
	read -r ok bad < <("$counter" "$log")
	local note=""
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		note=" (timed out after ${limit}s)"
	fi
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		# The stage broke without a test reporting failure: it did not run,
		# crashed, timed out, or a server did not start/stop cleanly.
		bad=1
		note="$note (make exited with status $rc, no failing test reported)"
	elif [ "$rc" -eq 0 ] && [ $((ok + bad)) -eq 0 ]; then
		bad=1
		note="$note (stage exited 0 but no test result was recognised in its output)"
	fi
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + bad))
	STAGE_FAILED_COUNT=$bad
	# what a stage counts: pg_regress files, isolation specs, TAP assertions
	local unit
	case $name in
	regress) unit="regress files" ;;
	isolation) unit="isolation specs" ;;
	*) unit="TAP assertions" ;;
	esac
	SUMMARY+=("$VER $name: $ok passed, $bad failed ($unit)$note")
	echo "stage $VER $name: $ok passed, $bad failed ($unit)$note"
}

# run_chroot VERSION: this script, with the same stages, on PostgreSQL
# VERSION inside its chroot (test/pgchroot.sh -n: never made here, that
# takes minutes; `make chroots` does), from a copy of the checkout without
# its build products.  Its counts are added to ours and its summary lines,
# already labelled pgVERSION, to our summary.
run_chroot() {
	local ver=$1 root log rc line kept
	local -a inner_summary=()
	if ! root=$(bash "$REPO/test/pgchroot.sh" -n "$ver" 2>/dev/null); then
		say "pg$ver: skipped (no chroot; make chroots makes it)"
		SUMMARY+=("pg$ver: skipped (no chroot; make chroots makes it)")
		return
	fi
	CHROOT_SRC=$(mktemp -d "$root/tmp/migrate-src.XXXXXX")
	log="$WORK/pg$ver.log"
	tar -C "$REPO" -cf - \
		--exclude=./.git --exclude=./.demo --exclude=.deps --exclude='*.o' --exclude='*.so' \
		--exclude='*.bc' --exclude=./src/pg_migrate/pg_migrate \
		--exclude=./tmp_check --exclude=./tmp_check_regress --exclude=./tmp_check_iso \
		--exclude=./results --exclude=./output_iso --exclude=./log \
		--exclude=./regression.diffs --exclude=./regression.out \
		. | tar -C "$CHROOT_SRC" -xf -
	say "pg$ver: test/run_tests.sh in the chroot $root, on a copy in ${CHROOT_SRC#"$root"}"
	bash "$REPO/test/pgchroot.sh" -n "$ver" env \
		PG_CONFIG="/usr/lib/postgresql/$ver/bin/pg_config" MIGRATE_CHROOT_VERSIONS= \
		MIGRATE_TEST_BUDGET="$BUDGET" MIGRATE_KEEP_WORKDIR="${MIGRATE_KEEP_WORKDIR:-0}" \
		MIGRATE_STAGES="${MIGRATE_STAGES:-regress isolation tap}" \
		MIGRATE_TAP="${MIGRATE_CHROOT_TAP:-${MIGRATE_TAP:-test/t/*.pl}}" \
		bash "${CHROOT_SRC#"$root"}/test/run_tests.sh" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	rm -rf "$CHROOT_SRC"
	CHROOT_SRC=
	# its summary: the lines between "=== summary" and the count
	while IFS= read -r line; do
		inner_summary+=("${line#  }")
	done < <(sed -n '/^=== summary/,$p' "$log" | sed -n '2,$p' | sed '$d')
	line=$(tail -n 1 "$log")
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		PASSED=$((PASSED + BASH_REMATCH[1]))
		FAILED=$((FAILED + BASH_REMATCH[2]))
		SUMMARY+=("${inner_summary[@]}")
	else
		FAILED=$((FAILED + 1))
		SUMMARY+=("pg$ver: no result (exit status $rc); see $log")
	fi
	kept=$(sed -n 's/^test work directory kept for inspection: \([^ ]*\).*/\1/p' "$log")
	[ -n "$kept" ] && SUMMARY+=("pg$ver: work directory kept: $root$kept")
	return 0
}

if [ "$(id -u)" -ne 0 ]; then
	echo "run_tests.sh must run as root (it installs the extension and uses runuser)" >&2
	SUMMARY+=("not run as root")
	FAILED=1
	finish
fi
if [ ! -x "$PG_CONFIG" ]; then
	echo "$PG_CONFIG not found; run test/setup.sh (make deps) first" >&2
	SUMMARY+=("missing $PG_CONFIG")
	FAILED=1
	finish
fi

cd "$REPO"

# ---------------------------------------------------------------- build ----
say "build: make PG_CONFIG=$PG_CONFIG (in $REPO)"
if ! make PG_CONFIG="$PG_CONFIG" -j"$(nproc)"; then
	echo "BUILD FAILED"
	SUMMARY+=("$VER build: make failed")
	FAILED=$((FAILED + 1))
	finish
fi
say "install: make PG_CONFIG=$PG_CONFIG install"
if ! make PG_CONFIG="$PG_CONFIG" install; then
	echo "INSTALL FAILED"
	SUMMARY+=("$VER install: make install failed")
	FAILED=$((FAILED + 1))
	finish
fi

# ------------------------------------------------------- private copy ----
WORK=$(mktemp -d "${MIGRATE_WORKROOT:-/tmp}/migrate-test.XXXXXX")
say "copying the source tree to $WORK"
tar -C "$REPO" -cf - \
	--exclude=./.git --exclude=./.demo \
	--exclude=./tmp_check --exclude=./tmp_check_regress --exclude=./tmp_check_iso \
	--exclude=./results --exclude=./output_iso --exclude=./log \
	--exclude=./regression.diffs --exclude=./regression.out \
	. | tar -C "$WORK" -xf -
chown -R postgres:postgres "$WORK"

# -------------------------------------------------------------- stages ----
shopt -s nullglob
regress_tests=()
for f in "$WORK"/sql/*.sql; do
	case $(basename "$f") in *--*.sql) ;; *) regress_tests+=("$f") ;; esac
done
iso_tests=("$WORK"/test/specs/*.spec)
tap_tests=()
for g in ${MIGRATE_TAP:-test/t/*.pl}; do
	tap_tests+=("$WORK"/$g)
done
shopt -u nullglob
STAGES=" ${MIGRATE_STAGES:-regress isolation tap} "
[[ $STAGES == *" regress "* ]] || regress_tests=()
[[ $STAGES == *" isolation "* ]] || iso_tests=()
[[ $STAGES == *" tap "* ]] || tap_tests=()
TAP_FILES=
for f in "${tap_tests[@]}"; do
	TAP_FILES="$TAP_FILES ${f#"$WORK"/}"
done

if [ ${#regress_tests[@]} -gt 0 ]; then
	run_stage regress "$REGRESS_CAP" count_regress ISOLATION= TAP_TESTS=
	if [ "$STAGE_FAILED_COUNT" -gt 0 ]; then
		say "regress failures: diffs and server log"
		show_file "$WORK/regression.diffs" 600
		show_file "$WORK/log/postmaster.log" 100 tail
	fi
else
	say "stage $VER regress: skipped (no sql/*.sql tests)"
	SUMMARY+=("$VER regress: skipped (no tests)")
fi

if [ ${#iso_tests[@]} -gt 0 ]; then
	run_stage isolation "$ISOLATION_CAP" count_regress REGRESS= TAP_TESTS=
	if [ "$STAGE_FAILED_COUNT" -gt 0 ]; then
		say "isolation failures: diffs and server log"
		show_file "$WORK/output_iso/regression.diffs" 600
		show_file "$WORK/output_iso/log/postmaster.log" 100 tail
	fi
else
	say "stage $VER isolation: skipped (no test/specs/*.spec)"
	SUMMARY+=("$VER isolation: skipped (no tests)")
fi

if [ ${#tap_tests[@]} -gt 0 ]; then
	run_stage tap "$TAP_CAP" count_tap REGRESS= ISOLATION= PROVE_FLAGS=-v \
		PROVE_TESTS="${TAP_FILES# }"
	if [ "$STAGE_FAILED_COUNT" -gt 0 ]; then
		say "TAP failures: log tails (tmp_check/log)"
		# Logs of the failing files only (regress_log_NAME, NAME_<node>.log);
		# all logs when prove did not get as far as its summary.
		shopt -s nullglob
		tap_logs=()
		if [ -s "$WORK/tap.bad_files" ]; then
			while IFS= read -r t; do
				b=$(basename "$t" .pl)
				tap_logs+=("$WORK/tmp_check/log/regress_log_$b" "$WORK"/tmp_check/log/"$b"_*.log)
			done <"$WORK/tap.bad_files"
		else
			tap_logs=("$WORK"/tmp_check/log/*)
		fi
		for f in "${tap_logs[@]}"; do
			[ -f "$f" ] && show_file "$f" 80 tail
		done
		shopt -u nullglob
	fi
else
	say "stage $VER tap: skipped (no test/t/*.pl)"
	SUMMARY+=("$VER tap: skipped (no tests)")
fi

for v in $CHROOT_VERSIONS; do
	run_chroot "$v"
done

cleanup_workdir
finish
