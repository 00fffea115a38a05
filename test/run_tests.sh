#!/bin/bash
# test/run_tests.sh - what `make test` runs once `make deps chroots` is done.
#
# Builds and installs migrate into PG_CONFIG's tree, copies the checkout to a
# directory the postgres OS user owns (initdb and the TAP framework refuse
# root), and runs PGXS's `make installcheck` there once per stage, so that a
# failing stage hides no other: regress, isolation, TAP.  Then it runs itself
# inside the PostgreSQL 17 and 18 chroots (test/pgchroot.sh).  The last line
# is "N passed, N failed": regress files, isolation specs and TAP assertions
# (counted by test/perl/MigrateTally.pm), all versions together.  Run as root.
#
# Knobs: MIGRATE_STAGES ("regress isolation tap"), MIGRATE_TAP (globs,
# "test/t/*.pl"), MIGRATE_CHROOT_VERSIONS ("17 18"; empty: PG_CONFIG's only),
# MIGRATE_CHROOT_TAP (MIGRATE_TAP's), MIGRATE_WORKROOT (/tmp),
# MIGRATE_KEEP_WORKDIR=1 (keep the copy when everything passed too).
set -uo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAGES=${MIGRATE_STAGES:-regress isolation tap}
TAP=${MIGRATE_TAP:-test/t/*.pl}
VER=pg$("$PG_CONFIG" --version 2>/dev/null | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
PASSED=0 FAILED=0 WORK= SUMMARY=()

# add LABEL OK BAD [NOTE]: a stage's counts
add() {
	PASSED=$((PASSED + $2)) FAILED=$((FAILED + $3))
	SUMMARY+=("$1: $2 passed, $3 failed${4:+ ($4)}")
	echo "=== ${SUMMARY[-1]}"
}

# servers a killed stage left running under $WORK
stop_servers() {
	local pidfile
	[ -n "$WORK" ] || return 0
	find "$WORK" -name postmaster.pid 2>/dev/null | while read -r pidfile; do
		as_pg "$BINDIR/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1
	done
}

finish() {
	stop_servers
	[ $((PASSED + FAILED)) -gt 0 ] || add "nothing ran" 0 1
	if [ -n "$WORK" ] && [ "$FAILED" -eq 0 ] && [ "${MIGRATE_KEEP_WORKDIR:-0}" != 1 ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		SUMMARY+=("$VER work directory kept: $WORK")
	fi
	echo "=== summary"
	printf '  %s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
trap 'add interrupted 0 1; finish' INT TERM

as_pg() { (cd / && runuser -u postgres -- "$@"); }

# copy_tree DIR: the checkout without .git and build or test products
copy_tree() {
	tar -C "$REPO" -cf - --exclude=./.git --exclude=./.demo --exclude=.deps \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./src/pg_migrate/pg_migrate \
		--exclude='./tmp_check*' --exclude=./results --exclude=./output_iso --exclude=./log \
		--exclude='./regression.*' . | tar -C "$1" -xf -
}

# stage NAME SECONDS MAKE-ARGS...: one `make installcheck` as postgres in
# $WORK, its output in $WORK/NAME.log; sets LOG and RC
stage() {
	local name=$1 limit=$2
	shift 2
	LOG=$WORK/$name.log
	echo "=== $VER $name: make installcheck $*"
	as_pg env PERL5LIB="$WORK/test/perl" timeout -k 20 "$limit" make -C "$WORK" PG_CONFIG="$PG_CONFIG" installcheck "$@" 2>&1 | tee "$LOG"
	RC=${PIPESTATUS[0]}
	[ "$RC" -lt 124 ] || echo "=== $VER $name: killed after ${limit}s"
}

# pg_regress's per-test lines: "test NAME ... ok" / "     NAME ... FAILED" on
# 15, "ok 1 - NAME" / "not ok 1 - NAME" from 16 on
regress_count() {
	local ok bad
	ok=$(grep -cE '^((test +| +)[^ ]+ +\.\.\. +(ok|failed \(ignored\))|ok +[0-9]+ +[-+] )' "$LOG")
	bad=$(grep -cE '^((test +| +)[^ ]+ +\.\.\. +FAILED|not ok +[0-9]+ +[-+] )' "$LOG")
	# a run that broke before its tests (no server, a crash) fails once
	[ "$RC" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
	add "$VER $1" "$ok" "$bad" "$2"
	if [ "$bad" -gt 0 ]; then
		echo "=== $VER $1: regression.diffs (600 lines), then the server log (last 100)"
		head -n 600 "$3/regression.diffs"
		tail -n 100 "$3/log/postmaster.log"
	fi 2>/dev/null
}

[ "$(id -u)" -eq 0 ] || { echo "run_tests.sh: run as root" >&2; add "not root" 0 1; finish; }
[ -x "$PG_CONFIG" ] || { echo "run_tests.sh: no $PG_CONFIG; run make deps" >&2; add "no PostgreSQL" 0 1; finish; }
BINDIR=$("$PG_CONFIG" --bindir)

echo "=== $VER: make && make install"
make -C "$REPO" PG_CONFIG="$PG_CONFIG" -j"$(nproc)" && make -C "$REPO" PG_CONFIG="$PG_CONFIG" install ||
	{ add "$VER build" 0 1; finish; }

WORK=$(mktemp -d "${MIGRATE_WORKROOT:-/tmp}/migrate-test.XXXXXX")
copy_tree "$WORK"
chown -R postgres: "$WORK"

if [[ " $STAGES " == *" regress "* ]]; then
	stage regress 300 ISOLATION= TAP_TESTS=
	regress_count regress "regress files" "$WORK"
fi
if [[ " $STAGES " == *" isolation "* ]]; then
	stage isolation 300 REGRESS= TAP_TESTS=
	regress_count isolation "isolation specs" "$WORK/output_iso"
fi
if [[ " $STAGES " == *" tap "* ]]; then
	files=$(cd "$WORK" && echo $TAP)
	stage tap 900 REGRESS= ISOLATION= PROVE_TESTS="$files" \
		PROVE_FLAGS="-v --harness=MigrateTally"
	if [[ $(grep '^tally: ' "$LOG" | tail -n 1) =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		add "$VER tap" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "TAP assertions"
	else
		add "$VER tap" 0 1 "prove did not finish: exit status $RC"
	fi
fi
stop_servers

# the same on 17 and 18, on a copy inside each chroot
for v in ${MIGRATE_CHROOT_VERSIONS-17 18}; do
	if ! root=$(bash "$REPO/test/pgchroot.sh" -n "$v" 2>/dev/null); then
		SUMMARY+=("pg$v: skipped (no chroot; make chroots makes it)")
		continue
	fi
	src=$(mktemp -d "$root/tmp/migrate-src.XXXXXX")
	copy_tree "$src"
	bash "$REPO/test/pgchroot.sh" -n "$v" env PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" \
		MIGRATE_CHROOT_VERSIONS= MIGRATE_STAGES="$STAGES" MIGRATE_TAP="${MIGRATE_CHROOT_TAP:-$TAP}" \
		MIGRATE_KEEP_WORKDIR="${MIGRATE_KEEP_WORKDIR:-0}" \
		bash "${src#"$root"}/test/run_tests.sh" 2>&1 | tee "$WORK/pg$v.log"
	rm -rf "$src"
	# its stage lines (a kept directory is seen from here), then its count
	mapfile -t -O ${#SUMMARY[@]} SUMMARY < <(sed -n "/^=== summary$/,\$s|^  ||p" "$WORK/pg$v.log" |
		sed "s|work directory kept: |&$root|")
	if [[ $(tail -n 1 "$WORK/pg$v.log") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		PASSED=$((PASSED + BASH_REMATCH[1])) FAILED=$((FAILED + BASH_REMATCH[2]))
	else
		add "pg$v" 0 1 "no result"
	fi
done
finish
