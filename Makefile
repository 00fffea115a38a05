# migrate: PGXS build, plus the two project commands `make demo` and `make test`
# (both install what they need on a fresh Debian bookworm machine, as root).

EXTENSION = migrate
EXTVERSION = 1.4
MODULE_big = migrate
PGFILEDESC = "migrate - versioned schema migrations run safely inside the server"

OBJS = \
	src/migrate.o \
	src/util.o \
	src/states.o \
	src/settings.o \
	src/shared.o \
	src/launcher.o \
	src/worker.o \
	src/script.o \
	src/run_catalog.o \
	src/api.o \
	src/runner.o \
	src/retry.o \
	src/lexer.o \
	src/rules.o \
	src/relation_risk.o \
	src/hints.o \
	src/judge.o \
	src/guard.o \
	src/lint.o \
	src/backfill_catalog.o \
	src/backfill.o \
	src/backfill_api.o \
	src/import.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=./test/migrate.conf

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --temp-instance=./tmp_check_iso --temp-config=./test/migrate.conf

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

# the schema version the C code reads and writes (catalog_version_ok); a
# new version must rebuild the object that compiles it in
PG_CPPFLAGS += -I$(srcdir)/src/include -DMIGRATE_EXTVERSION='"$(EXTVERSION)"'
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
# JIT bitcode buys nothing for this module and doubles the build.
override with_llvm = no
# PGXS does not track header dependencies by default; "override" because
# Makefile.global assigns the configure-time (empty) value after us.
override autodepend = yes

# not .demo: the demo cluster may be running (make demo-clean stops and removes it)
EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# after PGXS, so that "all" stays the default goal
src/run_catalog.o: Makefile

# The pg_migrate client: its own PGXS PROGRAM in src/pg_migrate (PGXS
# builds one MODULE_big and one PROGRAM per Makefile), installed into
# PostgreSQL's bindir.
PG_MIGRATE_ARGS = -C src/pg_migrate PG_CONFIG="$(PG_CONFIG)" EXTVERSION=$(EXTVERSION)
.PHONY: pg_migrate-all pg_migrate-install pg_migrate-clean
all: pg_migrate-all
install: pg_migrate-install
clean: pg_migrate-clean
pg_migrate-all:
	$(MAKE) $(PG_MIGRATE_ARGS) all
pg_migrate-install:
	$(MAKE) $(PG_MIGRATE_ARGS) install
pg_migrate-clean:
	$(MAKE) $(PG_MIGRATE_ARGS) clean

.PHONY: deps chroots demo demo-clean test bench

# Installs the Debian packages the build, the demo and the tests need.
deps:
	bash test/setup.sh

# Debian chroots with PostgreSQL 17 (trixie) and 18 (sid), in which make
# test runs every suite again: made with debootstrap the first time (a few
# minutes each), kept in /var/cache/migrate-chroots after that.
chroots: deps
	bash test/pgchroot.sh 17 >/dev/null
	bash test/pgchroot.sh 18 >/dev/null

# a PG_CONFIG given on the command line or in the environment picks the
# PostgreSQL tree to test; otherwise the scripts use PostgreSQL 15's
PICK_PG_CONFIG = $(if $(filter command line environment,$(origin PG_CONFIG)),PG_CONFIG="$(PG_CONFIG)")

demo: deps
	$(PICK_PG_CONFIG) bash test/demo.sh

demo-clean:
	$(PICK_PG_CONFIG) bash test/demo.sh --clean

test: deps chroots
	$(PICK_PG_CONFIG) bash test/run_tests.sh
