/*-------------------------------------------------------------------------
 *
 * backfill.h
 *	  Background backfills: `column = expression` for every matching row of
 *	  a table, in short batches run by a migrate worker.
 *
 * The durable state of a job is its row in migrate.backfill_jobs, updated
 * in the same transaction as each batch; shared memory only says which
 * worker runs which job.
 *
 * src/include/migrate/backfill.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_BACKFILL_H
#define MIGRATE_BACKFILL_H

#include "migrate/runner.h"
#include "migrate/shared.h"

/* Settings (backfill.c) */
/* upper bound of migrate.backfill_sleep_ms and of a job's pause */
#define MIGRATE_BACKFILL_MAX_SLEEP_MS 3600000
#define MIGRATE_BACKFILL_MAX_WORKERS 16

extern int	migrate_backfill_batch_ms;
extern int	migrate_backfill_sleep_ms;
extern int	migrate_backfill_max_batch_size;
extern int	migrate_backfill_workers;

extern void backfill_guc_init(void);
extern void backfill_build_sql(Oid relid, const char *column_name, const char *expression,
							   const char *where_clause, const char *skip_xids,
							   char **batch_sql, char **check_sql);

/* The worker side (backfill.c) */
extern void backfill_run_job(MigrateSlot *slot);
extern void backfill_recover(void);
extern RunResult backfill_await_migration(RunContext *ctx, const char *version,
										   ErrorData **edata);

#endif							/* MIGRATE_BACKFILL_H */
