/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Defines the settings of the migration runner and of the worker pool.
 *
 * Each other subsystem defines its settings next to the code that reads
 * them: guard.c migrate.guard and migrate.allow, rules.c
 * migrate.guard_min_size, backfill.c the migrate.backfill_* settings.
 * _PG_init (migrate.c) reserves the prefix once all are defined.
 *
 * Settings a caller may tune for one run (the lock timeouts, retries and
 * wait budget, retry.c) are USERSET: migrate_apply() copies the caller's
 * values into the run, so the worker honours what the caller's session
 * said, not its own defaults.
 *
 * src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "migrate/settings.h"

int			migrate_lock_timeout = 1000;
int			migrate_lock_timeout_initial = 50;
int			migrate_lock_retries = -1;
int			migrate_lock_wait_budget = 600000;
int			migrate_max_workers = 4;
static int	migrate_max_workers_per_role = -1;
int			migrate_max_script_size = 1024;
int			migrate_run_wait_timeout = 5000;
bool		migrate_out_of_order = false;

static bool check_max_workers_per_role(int *newval, void **extra, GucSource source);

void
migrate_guc_init(void)
{
	DefineCustomIntVariable("migrate.lock_timeout",
							"Longest lock timeout of any attempt a migration step makes for its lock.",
							"Each retry waits longer than the one before, from "
							"migrate.lock_timeout_initial up to this; the application's "
							"queries on the table wait at most this long behind one attempt.",
							&migrate_lock_timeout,
							1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_timeout_initial",
							"Lock timeout of the first attempt a migration step makes for its lock.",
							"A statement that cannot get its lock within this time is "
							"cancelled and retried later, with a timeout 8% longer at each retry.",
							&migrate_lock_timeout_initial,
							50, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_retries",
							"How many times a step that hit its lock timeout is retried.",
							"-1 retries until migrate.lock_wait_budget is spent.  Retries "
							"back off exponentially with jitter.",
							&migrate_lock_retries,
							-1, -1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_wait_budget",
							"How long a migration step keeps trying for its lock before it fails.",
							"Counted from the step's first attempt, sleeps between the "
							"attempts included.",
							&migrate_lock_wait_budget,
							600000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.max_script_size",
							"Largest migration script migrate_register() accepts.",
							NULL,
							&migrate_max_script_size,
							1024, 1, MaxAllocSize / 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.run_wait_timeout",
							"How long migrate_apply() waits for another run in the same database before giving up.",
							NULL,
							&migrate_run_wait_timeout,
							5000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("migrate.out_of_order",
							 "Allows applying a pending migration whose version is below the highest applied one.",
							 NULL,
							 &migrate_out_of_order,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/* Shared memory is sized from this, so it is fixed at server start. */
	DefineCustomIntVariable("migrate.max_workers",
							"Maximum number of migrate background workers running at once.",
							NULL,
							&migrate_max_workers,
							4, 1, 64,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.max_workers_per_role",
							"Maximum number of backfill workers the jobs of one role run at once.",
							"-1 means all the backfill workers but one, so that another role "
							"always finds one.",
							&migrate_max_workers_per_role,
							-1, -1, 64,
							PGC_SIGHUP, 0,
							check_max_workers_per_role, NULL, NULL);
}

/* 0 would hold every backfill for good: refused, -1 is the default */
static bool
check_max_workers_per_role(int *newval, void **extra, GucSource source)
{
	if (*newval != 0)
		return true;
	GUC_check_errdetail("Use a positive number, or -1 for all the backfill workers but one.");
	return false;
}

/*
 * The backfill workers one role's jobs may run at once.  Runs keep one of
 * migrate.max_workers for themselves, so backfills have max_workers - 1;
 * by default one role may take all of them but one, which leaves another
 * role a worker and still lets one role's job use two workers on the
 * default max_workers of 4.
 */
int
migrate_backfill_role_cap(void)
{
	if (migrate_max_workers_per_role > 0)
		return migrate_max_workers_per_role;
	return Max(1, migrate_max_workers - 2);
}
