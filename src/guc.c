/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Defines every migrate.* setting and reserves the prefix.
 *
 * Settings a caller may tune for one run (lock timeout, retries) are
 * USERSET: migrate_apply() copies the caller's values into the run, so the
 * worker honours what the caller's session said, not its own defaults.
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "guc.h"

int			migrate_lock_timeout = 1000;
int			migrate_lock_retries = 10;
int			migrate_max_workers = 4;
int			migrate_max_script_size = 1024;
int			migrate_run_wait_timeout = 5000;
bool		migrate_out_of_order = false;

void
migrate_guc_init(void)
{
	DefineCustomIntVariable("migrate.lock_timeout",
							"Lock timeout for each statement a migration runs.",
							"A statement that cannot get its lock within this time is "
							"cancelled and retried later, so it never stalls the "
							"application's queries for longer than this.",
							&migrate_lock_timeout,
							1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.lock_retries",
							"How many times a statement that hit the lock timeout is retried.",
							"Retries back off exponentially with jitter.",
							&migrate_lock_retries,
							10, 0, 1000,
							PGC_USERSET, 0,
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
}
