#!/bin/bash
# test/pgchroot.sh [-n] VERSION [COMMAND...]
#
# A Debian chroot with PostgreSQL VERSION (17: trixie, 18: sid) and what the
# build and the tests need, made with debootstrap the first time and kept
# under $MIGRATE_CHROOT_CACHE (default /var/cache/migrate-chroots) for later
# runs on the same machine.  Without COMMAND it only makes sure the chroot
# exists and prints its path; with COMMAND it runs COMMAND inside it as
# root, with /proc, /dev/shm and /dev/pts mounted for the time of the call.
# With -n a missing chroot is not made: the call fails (exit 3) instead.
# Runs as root.  Several calls at once are serialised per chroot.
set -euo pipefail

make_missing=1
if [ "${1:-}" = -n ]; then
	make_missing=0
	shift
fi
ver=${1:?usage: test/pgchroot.sh [-n] VERSION [COMMAND...]}
shift
case $ver in
	17) suite=trixie ;;
	18) suite=sid ;;
	*) echo "pgchroot.sh: no chroot for PostgreSQL $ver (15 is the host's)" >&2; exit 2 ;;
esac

cache=${MIGRATE_CHROOT_CACHE:-/var/cache/migrate-chroots}
root=$cache/$suite
# the host's own Debian mirror (the only one this network reaches)
mirror=$(grep -rhoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
	| grep -oE 'https?://[^ ]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock 9

mounted=()
cleanup() {
	local m
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		m=${mounted[i]}
		umount -l "$m" 2>/dev/null || true
	done
}
trap cleanup EXIT

mount_in() {
	# mount_in TYPE DIR: mounts a fresh TYPE file system on the chroot's DIR
	local type=$1 dir=$root$2
	mkdir -p "$dir"
	if ! mountpoint -q "$dir"; then
		mount -t "$type" "$type" "$dir"
		mounted+=("$dir")
	fi
}

in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# What the build and the tests need in the chroot.  The ready mark holds
# the list the chroot got, so that a package added here is installed into
# an existing chroot at its next use (-n too: that takes seconds, not the
# minutes of debootstrap).
packages=("postgresql-$ver" "postgresql-server-dev-$ver" libipc-run-perl make gcc libc6-dev
	perl ca-certificates)
ready=$root/.migrate-ready-$ver

if [ ! -e "$ready" ] && [ "$make_missing" -eq 0 ]; then
	echo "pgchroot.sh: no chroot for PostgreSQL $ver in $root (test/pgchroot.sh $ver makes it)" >&2
	exit 3
fi
if [ ! -e "$ready" ]; then
	command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
	echo "pgchroot.sh: making $root (debootstrap $suite from $mirror; a few minutes)" >&2
	rm -rf "$root"
	debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$cache/$suite.debootstrap.log" 2>&1 || {
		tail -n 20 "$cache/$suite.debootstrap.log" >&2
		exit 1
	}
	# no service starts inside the chroot, and no "main" cluster is made
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/etc/postgresql-common"
	echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
fi
if [ "$(cat "$ready" 2>/dev/null)" != "${packages[*]}" ]; then
	mount_in proc /proc
	# sid's Release file in the mirror is past its Valid-Until date
	in_root apt-get -o Acquire::Check-Valid-Until=false update -qq
	in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends \
		"${packages[@]}" >"$cache/$suite.apt.log" 2>&1 || {
		tail -n 20 "$cache/$suite.apt.log" >&2
		exit 1
	}
	echo "${packages[*]}" >"$ready"
fi

if [ $# -eq 0 ]; then
	echo "$root"
	exit 0
fi

mount_in proc /proc
mount_in tmpfs /dev/shm
mount_in devpts /dev/pts
in_root "$@"
