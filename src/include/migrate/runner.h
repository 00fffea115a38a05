/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  Runs one migration's up or down script in the worker: step by step,
 *	  with lock timeouts, retries and exact history.
 *
 * src/include/migrate/runner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_RUNNER_H
#define MIGRATE_RUNNER_H

#include "migrate/run_catalog.h"
#include "migrate/shared.h"

typedef enum RunResult
{
	RUN_OK,
	RUN_FAILED,				/* recorded as failed in the history */
	RUN_STOPPED,				/* the caller asked to stop; nothing recorded */
	RUN_HANDOFF				/* belongs to another role: next_owner runs it */
} RunResult;

typedef struct RunContext
{
	int64		run_id;
	bool		rollback;
	LockSchedule lock;			/* how steps wait for their locks */
	MigrateSlot *slot;			/* live progress, never NULL in the worker */
	Oid			next_owner;		/* set with RUN_HANDOFF */
} RunContext;

/* True while the worker runs a statement of a migration (a backfill it starts belongs to it). */
extern bool migrate_runner_active;

/* The migration being run, for a backfill its script starts (backfill_api.c). */
extern RunContext *migrate_runner_context;

extern RunResult runner_run_migration(RunContext *ctx, MigrationDef *planned);

#endif							/* MIGRATE_RUNNER_H */
