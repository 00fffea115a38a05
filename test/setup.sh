#!/bin/bash
# test/setup.sh - install the Debian packages that `make demo` and `make test`
# need (PostgreSQL 15 server + PGXS, IPC::Run for the TAP tests, a compiler).
#
# Idempotent: when every package is already installed it changes nothing and
# does not touch the network.  Meant for Debian 12 (bookworm), run as root;
# when not root it falls back to sudo, if there is one.
set -euo pipefail

PACKAGES=(postgresql-15 postgresql-server-dev-15 libipc-run-perl make gcc perl)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all packages present (${PACKAGES[*]})"
else
	echo "setup: installing missing packages: ${missing[*]}"
	SUDO=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO=(sudo)
		else
			echo "setup: must run as root to install: ${missing[*]}" >&2
			exit 1
		fi
	fi
	"${SUDO[@]}" apt-get update
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Sanity checks: the things the other scripts rely on.
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
if [ ! -x "$PG_CONFIG" ]; then
	echo "setup: $PG_CONFIG not found after installing postgresql-server-dev-15" >&2
	exit 1
fi
if ! id postgres >/dev/null 2>&1; then
	echo "setup: the 'postgres' OS user does not exist (it comes with postgresql-common)" >&2
	exit 1
fi
if ! perl -MIPC::Run -e 1 2>/dev/null; then
	echo "setup: perl module IPC::Run is not loadable (libipc-run-perl)" >&2
	exit 1
fi
echo "setup: ok ($("$PG_CONFIG" --version))"
