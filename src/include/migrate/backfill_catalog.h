/*-------------------------------------------------------------------------
 *
 * backfill_catalog.h
 *	  Reading and writing the backfill tables: migrate.backfill_jobs,
 *	  migrate.backfill_ranges and migrate.backfill_batches
 *	  (backfill_catalog.c).
 *
 * Every function here runs in the caller's transaction, with a snapshot
 * already active, as the extension owner: the caller switches to it
 * (catalog_become_owner, or catalog_xact_begin for a transaction of its
 * own) and back.  Each function connects to SPI itself; strings and
 * arrays it returns are allocated in the caller's memory context.
 *
 * src/include/migrate/backfill_catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_BACKFILL_CATALOG_H
#define MIGRATE_BACKFILL_CATALOG_H

#include "fmgr.h"

#include "migrate/states.h"

/* A job as migrate_backfill() records it. */
typedef struct BackfillJobDef
{
	Oid			relid;
	const char *relation;		/* its qualified name when submitted */
	const char *column_name;
	const char *expression;
	const char *where_clause;	/* NULL: none */
	int			batch_size;		/* the first batch's rows */
	int			max_batch_size;
	int			max_rows_per_second;	/* 0: no cap */
	int			batch_ms;
	int			sleep_ms;
	int			workers;
	double		rows_per_block;
	int64		rows_total_estimate;	/* < 0: unknown */
	Oid			submitter;		/* the role its workers log in as */
	const char *submitted_by;	/* that role's name */
	const char *search_path;
	const char *migration;		/* the migration whose script submitted it, or
								 * NULL */
	HistoryAction migration_action; /* with migration: apply or rollback */
	int64		run_id;			/* with migration */
} BackfillJobDef;

/* Who may change a job, and where it stands. */
typedef struct BackfillJobStatus
{
	BackfillState state;
	char	   *last_error;		/* NULL: none (backfill_catalog_poll_job) */
	char	   *submitted_by;
	Oid			submitter;		/* InvalidOid: none recorded */
} BackfillJobStatus;

/*
 * A change of an unfinished job by migrate_backfill_pause(), _resume(),
 * _cancel() or _pace().
 */
typedef struct BackfillChange
{
	int			from;			/* BACKFILL_STATE_BIT()s it applies to */
	bool		set_state;		/* true: moves the job to state; false:
								 * changes its pace */
	BackfillState state;
	int			sleep_ms;		/* < 0: unchanged */
	int			max_rows_per_second;	/* < 0: unchanged; 0: no cap */
	int			workers;		/* 0: unchanged */
} BackfillChange;

/* The SQL functions' side (backfill_api.c) */
extern bool backfill_catalog_unfinished_job(Oid relid, const char *column_name, int64 *id);
extern int64 backfill_catalog_insert_job(const BackfillJobDef *def);
extern bool backfill_catalog_lock_job(int64 id, BackfillJobStatus *status);
extern bool backfill_catalog_change_job(int64 id, const BackfillChange *change);
extern bool backfill_catalog_poll_job(int64 id, BackfillJobStatus *status);
extern void backfill_catalog_status_rows(FunctionCallInfo fcinfo, Oid caller, bool one, int64 id);

/* Both sides */
extern void backfill_catalog_clear_cancelled(int64 id);

#endif							/* MIGRATE_BACKFILL_CATALOG_H */
