/*-------------------------------------------------------------------------
 *
 * backfill_catalog.h
 *	  Reading and writing the backfill tables: migrate.backfill_jobs,
 *	  migrate.backfill_ranges and migrate.backfill_batches
 *	  (backfill_catalog.c).
 *
 * Every function here runs in the caller's transaction, with a snapshot
 * already active, and never starts or ends one.  It runs as the extension
 * owner: the caller switches to it (catalog_become_owner, or
 * catalog_xact_begin for a transaction of its own) and back, around these
 * calls only; backfill_catalog_status_rows alone switches itself.  Each
 * function connects to SPI itself (nested in the caller's connection if
 * there is one); strings, arrays and lists it returns are allocated in the
 * caller's memory context.
 *
 * src/include/migrate/backfill_catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_BACKFILL_CATALOG_H
#define MIGRATE_BACKFILL_CATALOG_H

#include "fmgr.h"
#include "nodes/pg_list.h"

#include "migrate/states.h"

/*
 * A job's row: as migrate_backfill() records it (everything) and its
 * worker reads it (up to search_path).
 */
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

/* How a batch's claim of a range went (backfill_catalog_claim_range). */
typedef enum BackfillClaim
{
	BACKFILL_CLAIMED,			/* the batch walks *lo to *hi */
	BACKFILL_CLAIM_BUSY,		/* other batches hold every range left */
	BACKFILL_CLAIM_PASS_OVER	/* every range of the pass is walked */
} BackfillClaim;

/* What may have changed under a running job's worker. */
typedef struct BackfillControl
{
	BackfillState state;
	int			sleep_ms;
	int			max_rows_per_second;	/* 0: no cap */
	int			workers;
	double		replica_lag_ms; /* the most lagging streaming standby's; 0:
								 * none */
	int64		active_sessions;	/* client sessions running a statement;
									 * 0 unless counted */
} BackfillControl;

/* Where a job's pass stands. */
typedef struct BackfillPassStatus
{
	int			pass;
	int64		pass_end;		/* -1: the first pass has not started */
	bool		idle;			/* the pass changed no row */
	bool		ended;			/* another worker ended it, or the job is not
								 * running: its ranges are walked */
} BackfillPassStatus;

/* A job that should run, for the workers to queue. */
typedef struct BackfillRunnable
{
	int64		id;
	Oid			submitter;
	int			workers;
} BackfillRunnable;

/* The latest job of a column that a migration's script submitted. */
typedef struct BackfillMigrationJob
{
	int64		id;
	BackfillState state;
	char	   *last_error;		/* NULL: none */
	char	   *relation;
	char	   *column_name;
} BackfillMigrationJob;

/*
 * The SQL functions' side (backfill_api.c): in the caller's transaction, as
 * the owner inside a GUC nest level (catalog_become_owner).
 */
extern bool backfill_catalog_unfinished_job(Oid relid, const char *column_name, int64 *id);
extern int64 backfill_catalog_insert_job(const BackfillJobDef *def);
extern bool backfill_catalog_lock_job(int64 id, BackfillJobStatus *status);
extern bool backfill_catalog_change_job(int64 id, const BackfillChange *change);
extern bool backfill_catalog_poll_job(int64 id, BackfillJobStatus *status);
extern void backfill_catalog_status_rows(FunctionCallInfo fcinfo, Oid caller, bool one, int64 id);

/*
 * The worker's side (backfill.c).  claim_range and record_batch run in the
 * batch's transaction, so that they commit with its rows; batch_xids,
 * pass_status and end_pass in the transaction that ends a pass; each
 * between catalog_become_owner and the job's role and search_path put
 * back.  start_job, read_control, recut_ranges, record_state,
 * clear_cancelled and migration_jobs run in a transaction of their own
 * (catalog_xact_begin), runnable_jobs in the caller's or one of its own.
 */
extern bool backfill_catalog_start_job(int64 id, BackfillJobDef *def, int *pass, int64 *pass_end);
extern bool backfill_catalog_read_control(int64 id, bool count_sessions, BackfillControl *control);
extern BackfillClaim backfill_catalog_claim_range(int64 id, int64 blocks, int64 *lo, int64 *hi);
extern void backfill_catalog_record_batch(int64 id, int64 blocks, int64 rows, int batch_size,
										  double ms);
extern Datum backfill_catalog_batch_xids(int64 id);
extern void backfill_catalog_pass_status(int64 id, BackfillPassStatus *status);
extern void backfill_catalog_end_pass(int64 id, int pass, int64 nblocks, bool again,
									  int64 skipped, int64 nranges);
extern uint64 backfill_catalog_recut_ranges(int64 id, int nranges);
extern void backfill_catalog_record_state(int64 id, BackfillState state, const char *error,
										  const char *held);
extern List *backfill_catalog_runnable_jobs(void);
extern List *backfill_catalog_migration_jobs(const char *version, HistoryAction action);

/* Both sides */
extern void backfill_catalog_clear_cancelled(int64 id);

#endif							/* MIGRATE_BACKFILL_CATALOG_H */
