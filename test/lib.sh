# test/lib.sh - sourced by the demo and the benchmark scripts: the checks and
# helpers every one of them starts with.
#
# Sets PG_CONFIG, REPO and BINDIR; defines die, as_pg, build_and_install
# and median.
# The including script sets SCRIPT_NAME (for messages) first.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "${SCRIPT_NAME:-migrate}: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs the extension and runs the server as the postgres OS user"
[ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found; run test/setup.sh (make deps) first"
BINDIR=$("$PG_CONFIG" --bindir)

# postgres refuses to run as root; cd / so it never needs the caller's cwd
as_pg() { (cd / && runuser -u postgres -- "$@"); }

# make && make install, unless BENCH_NO_BUILD=1
build_and_install() {
	[ "${BENCH_NO_BUILD:-0}" = 1 ] && return 0
	echo "== make && make install"
	(cd "$REPO" && make -s PG_CONFIG="$PG_CONFIG" -j"$(nproc)" &&
		make -s PG_CONFIG="$PG_CONFIG" install) >/dev/null
}

# the median of the numbers on stdin (whitespace separated)
median() {
	tr -s ' \t' '\n\n' | grep . | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
