/*-------------------------------------------------------------------------
 *
 * executor.h
 *	  Runs one migration's up or down script in the worker: step by step,
 *	  with lock timeouts, retries and exact history.
 *
 * src/executor.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_EXECUTOR_H
#define MIGRATE_EXECUTOR_H

#include "catalog.h"
#include "shmem.h"

typedef enum ExecResult
{
	EXEC_OK,
	EXEC_FAILED,				/* recorded as failed in the history */
	EXEC_STOPPED,				/* the caller asked to stop; nothing recorded */
	EXEC_HANDOFF				/* belongs to another role: next_owner runs it */
} ExecResult;

typedef struct ExecContext
{
	int64		run_id;
	bool		rollback;
	int			lock_timeout;	/* ms */
	int			lock_retries;
	MigrateSlot *slot;			/* live progress, never NULL in the worker */
	Oid			next_owner;		/* set with EXEC_HANDOFF */
} ExecContext;

/* True while the worker runs a statement of a migration (a backfill it starts belongs to it). */
extern bool migrate_executor_active;

/* The migration being run, for a backfill its script starts (backfill_api.c). */
extern ExecContext *migrate_executor_context;

extern ExecResult executor_run_migration(ExecContext *ctx, MigrationDef *planned);

#endif							/* MIGRATE_EXECUTOR_H */
