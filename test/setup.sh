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

# The other tools' own clients, so that TAP 105 checks that they read back
# the history tables pg_migrate --compat-history keeps.  Optional: without
# npm (or the registry) the test reads the tables as the tools do, and skips
# running them.
TOOLS=${MIGRATE_TEST_TOOLS:-/usr/local/lib/migrate-test-tools}
if [ ! -x "$TOOLS/node_modules/.bin/dbmate" ] || [ ! -x "$TOOLS/node_modules/.bin/node-pg-migrate" ]; then
	if command -v npm >/dev/null 2>&1; then
		echo "setup: installing dbmate and node-pg-migrate into $TOOLS (npm)"
		mkdir -p "$TOOLS"
		npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
			dbmate@2.36.0 node-pg-migrate@9 pg@8 ||
			echo "setup: could not install them; TAP 105 will not run them"
	else
		echo "setup: no npm: TAP 105 will not run dbmate and node-pg-migrate themselves"
	fi
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
