/*-------------------------------------------------------------------------
 *
 * migrate.c
 *	  Module entry point: refuses to load unless preloaded, then lets each
 *	  subsystem set itself up.
 *
 * src/migrate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "migrate/backfill.h"
#include "migrate/guard.h"
#include "migrate/relation_risk.h"
#include "migrate/settings.h"
#include "migrate/launcher.h"
#include "migrate/shared.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migrate must be loaded via shared_preload_libraries"),
				 errhint("Add migrate to shared_preload_libraries in postgresql.conf and restart the server.")));

	migrate_guc_init();
	relrisk_init();
	guard_init();
	backfill_guc_init();
	MarkGUCPrefixReserved("migrate");

	/* pg_upgrade runs the server without workers or hooks of ours */
	if (IsBinaryUpgrade)
		return;

	migrate_shmem_init();
	migrate_launcher_register();
}
