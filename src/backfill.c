/*-------------------------------------------------------------------------
 *
 * backfill.c
 *	  The backfill engine: runs one job of migrate.backfill_jobs in a
 *	  migrate worker, batch by batch, and finds interrupted jobs again
 *	  after a restart.
 *
 * A batch is one transaction over a range of heap blocks, one statement:
 *
 *	 UPDATE t SET column = expression
 *	 WHERE ctid = ANY (ARRAY(SELECT ctid FROM t
 *							 WHERE ctid in the range AND column IS DISTINCT FROM expression
 *							   AND where_clause
 *							 FOR NO KEY UPDATE SKIP LOCKED))
 *
 * so a row an application transaction holds is skipped, never waited for,
 * and exactly the rows we locked are updated, by ctid (stable while we hold
 * the row lock).  Measured against a CTE that first lists the candidates
 * and one that materializes the locked rows, this shape costs ~12% less
 * (README, "Backfills", "Benchmark").
 *
 * A pass is cut into block ranges (migrate.backfill_ranges; one per pass
 * for a one-worker job, 4 per worker otherwise).  A batch claims the first
 * range no other batch holds (FOR UPDATE SKIP LOCKED on its row) and moves
 * its position on; that row and the job's counters are updated in the same
 * transaction as the rows, so after a crash every range resumes at the
 * first block whose batch did not commit: no row is lost and no batch is
 * counted twice, however many workers share the job.  A pass ends at the
 * table's size when the pass started: the new row versions our own updates
 * append are not walked again.  After each pass one read-only check (a
 * single snapshot, no row locks, so it never waits for anyone) counts the
 * rows still to do -- skipped because locked, or changed or inserted by the
 * application behind the walk -- and starts another pass if there are
 * any.  The check skips, without evaluating the expression, every row
 * version the job's batches wrote: its xmin is one of their transactions,
 * which each batch records in migrate.backfill_batches as it commits, so
 * the check knows every worker's batches, also after a restart.  Those
 * rows hold the expression's value by construction (a volatile one would
 * look different at every check), and they are most of the table.
 *
 * Why block ranges rather than a key: measured on PostgreSQL 15 with 1M
 * rows and ~8,000-row batches (see README), TID range batches and keyset
 * batches on the primary key cost the same within noise (7.2-8.8 s against
 * 7.9-8.3 s, single UPDATE 5.0-6.8 s), but TID ranges need no unique
 * index, read the heap in physical order and cannot miss or repeat a row
 * whose key the application changes: the walk never depends on values the
 * application can write.
 *
 * src/backfill.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "access/relation.h"
#include "access/xlog.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "migrate/backfill.h"
#include "migrate/backfill_catalog.h"
#include "migrate/retry.h"
#include "migrate/run_catalog.h"
#include "migrate/settings.h"
#include "migrate/util.h"

/*
 * Advisory lock classes (field4): "worker n of this job is running" (field3
 * is n, see backfill_run_job) and "this job's pass is being ended" (see
 * end_pass).  field2 is the low half of the job id: jobs 2^32 apart could
 * only make each other wait.
 */
#define BACKFILL_WORKER_LOCK_CLASS 3
#define BACKFILL_PASS_LOCK_CLASS 4

int			migrate_backfill_batch_ms = 50;
int			migrate_backfill_sleep_ms = 1950;
int			migrate_backfill_max_batch_size = 50000;
static int	migrate_backfill_lock_timeout = 200;
static int	migrate_backfill_statement_timeout = 10000;
static int	migrate_backfill_max_retries = 10;
static int	migrate_backfill_max_replica_lag = 30000;
static int	migrate_backfill_max_active_sessions = 0;
int			migrate_backfill_workers = 1;
static bool migrate_backfill_wal_compression = true;

/* What run_batch found. */
typedef enum BatchResult
{
	BATCH_DONE,					/* a batch committed */
	BATCH_FAILED,				/* it failed; retried or recorded */
	BATCH_BUSY,					/* other workers hold every range left */
	BATCH_PASS_OVER				/* every range of the pass is walked */
} BatchResult;

/* One job as the worker runs it; the durable copy is its row. */
typedef struct Job
{
	int64		id;
	BackfillJobDef def;			/* its row; batch_size adapted, the pace
								 * (sleep_ms, max_rows_per_second, workers)
								 * as last read */
	char	   *relname;		/* for messages, read when the job starts */
	int			pass;			/* as this worker last saw it */
	int			plan_pass;		/* the pass batch_plan was made for */
	int64		pass_end;		/* -1: the first pass has not started */
	int			failures;		/* consecutive failed batches */
	SPIPlanPtr	claim_plan;
	SPIPlanPtr	batch_plan;
	SPIPlanPtr	progress_plan;
	char	   *check_sql;		/* run one-shot: see end_pass */
	char		activity[256];
} Job;

static bool load_job(Job *job);
static void prepare_plans(Job *job);
static void free_plans(Job *job);
static void restore_job_user(Job *job, CatalogUser *user);
static BackfillState control(Job *job, char **held);
static BatchResult run_batch(Job *job, int64 blocks, int64 *done, double *ms);
static bool end_pass(Job *job);
static void recut_ranges(Job *job);
static Datum batch_xids(Job *job);
static void set_state(Job *job, BackfillState state, const char *error, const char *held);
static void throttle(Job *job, long ms);
static Datum tid_datum(int64 block);
static void set_advisory_tag(LOCKTAG *tag, Job *job, uint32 n, uint16 class);
static void leave_slot(MigrateSlot *slot);
static void clear_cancelled_job(Job *job);

void
backfill_guc_init(void)
{
	DefineCustomIntVariable("migrate.backfill_batch_ms",
							"Target duration of one backfill batch.",
							"The batch size adapts so that each batch, and so each "
							"time rows stay locked, takes about this long. Copied "
							"into the job when it is submitted.",
							&migrate_backfill_batch_ms,
							50, 10, 60000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_sleep_ms",
							"Pause between two backfill batches.",
							"Copied into the job when it is submitted; "
							"migrate_backfill_pace() changes it for a running job. "
							"The default runs one 50 ms batch every 2 s; 0 runs "
							"batches back to back.",
							&migrate_backfill_sleep_ms,
							1950, 0, MIGRATE_BACKFILL_MAX_SLEEP_MS,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_max_batch_size",
							"Upper bound of the adaptive backfill batch size, in rows.",
							"Used when migrate_backfill() is given no batch_size.",
							&migrate_backfill_max_batch_size,
							50000, 1, INT_MAX / 2,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_lock_timeout",
							"Lock timeout of each backfill batch.",
							"A batch that waits longer for a lock is rolled back, "
							"halved and retried.",
							&migrate_backfill_lock_timeout,
							200, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_statement_timeout",
							"Statement timeout of each backfill batch.",
							"A batch that runs longer is rolled back, halved and retried.",
							&migrate_backfill_statement_timeout,
							10000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_max_retries",
							"How many times in a row a failed backfill batch is retried before the job fails.",
							"Retries back off exponentially with jitter.",
							&migrate_backfill_max_retries,
							10, 0, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_max_replica_lag",
							"Backfills hold while a streaming standby's replay lag exceeds this.",
							"0 turns the check off. The lag is pg_stat_replication.replay_lag.",
							&migrate_backfill_max_replica_lag,
							30000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_max_active_sessions",
							"Backfills hold while more sessions than this are running a statement.",
							"0 turns the check off. Counts client backends whose "
							"pg_stat_activity.state is active, except those waiting "
							"in an extension, such as migrate_backfill_wait().",
							&migrate_backfill_max_active_sessions,
							0, 0, MAX_BACKENDS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("migrate.backfill_workers",
							"How many workers run one backfill job at once.",
							"Copied into the job when it is submitted; "
							"migrate_backfill_pace() changes it for a running job. Each "
							"pass is cut into block ranges that the workers share; every "
							"worker counts against migrate.max_workers.",
							&migrate_backfill_workers,
							1, 1, MIGRATE_BACKFILL_MAX_WORKERS,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("migrate.backfill_wal_compression",
							 "Compresses the full-page images that backfill batches write to the WAL.",
							 "Batches run with wal_compression = lz4 when the server's "
							 "wal_compression is off. No effect when PostgreSQL was "
							 "built without lz4.",
							 &migrate_backfill_wal_compression,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
}

/*
 * Builds the statements of a job.  The caller has validated the expression
 * and where clause as single expressions (backfill_api.c), so pasting them
 * between parentheses cannot change the statement's shape.  The expression
 * is compared in the column's type, the way the UPDATE will store it.
 * skip_xids, an xid[] literal or NULL, lists transactions whose rows the
 * batches leave alone: a constant, so that the planner hashes it.
 */
void
backfill_build_sql(Oid relid, const char *column_name, const char *expression,
				   const char *where_clause, const char *skip_xids,
				   char **batch_sql, char **check_sql)
{
	AttrNumber	attnum = get_attnum(relid, column_name);
	Oid			typid;
	int32		typmod;
	Oid			collid;
	char	   *rel;
	char	   *col = (char *) quote_identifier(column_name);
	char	   *type;
	char	   *needs;
	/* both checked to be one expression each, parenthesised so (backfill_api.c) */
	char	   *where = where_clause ? psprintf(" AND (%s\n)", where_clause) : "";

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	type = format_type_extended(typid, typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									 get_rel_name(relid));
	needs = psprintf("%s IS DISTINCT FROM ((%s\n)::%s)%s", col, expression, type, where);

	*batch_sql = psprintf("UPDATE ONLY %s SET %s = (%s\n) "
						  "WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
						  "SELECT ctid FROM ONLY %s "
						  "WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2 AND %s%s%s%s "
						  "FOR NO KEY UPDATE SKIP LOCKED))",
						  rel, col, expression, rel,
						  skip_xids ? "xmin OPERATOR(pg_catalog.<>) ALL (" : "",
						  skip_xids ? quote_literal_cstr(skip_xids) : "",
						  skip_xids ? "::pg_catalog.xid[]) AND " : "",
						  needs);
	/* CASE, not AND: the cheap test must come first, whatever the costs */
	*check_sql = psprintf("SELECT pg_catalog.count(*) FROM ONLY %s "
						  "WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2 "
						  "AND CASE WHEN xmin OPERATOR(pg_catalog.=) ANY ($3) THEN false ELSE %s END",
						  rel, needs);
}

/*
 * The worker's entry point for MIGRATE_JOB_BACKFILL.  Returns when the job
 * is done, failed, paused or cancelled, or when another worker runs it.
 */
void
backfill_run_job(MigrateSlot *slot)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "migrate backfill",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext batch_cxt = AllocSetContextCreate(cxt, "migrate backfill batch",
													ALLOCSET_DEFAULT_SIZES);
	Job		   *job;
	LOCKTAG		tag;
	TimestampTz rate_start = 0;
	int64		rate_rows = 0;
	int			n;
	int			workers_seen;

	MemoryContextSwitchTo(cxt);
	job = palloc0(sizeof(Job));
	job->id = slot->job_id;

	if (!load_job(job))
	{
		leave_slot(slot);
		backfill_recover();
		return;
	}

	/*
	 * A job can be queued more often than it has workers (its submitter's
	 * commit and a recovery scan racing); worker n holds the session-level
	 * advisory lock n, which outlives the batches' transactions, so at most
	 * job->def.workers run it.
	 */
	StartTransactionCommand();
	for (n = 0; n < job->def.workers; n++)
	{
		set_advisory_tag(&tag, job, n, BACKFILL_WORKER_LOCK_CLASS);
		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
			break;
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (n == job->def.workers)
	{
		leave_slot(slot);
		return;
	}
	/*
	 * The first worker queues the others, and cuts the pass anew if the
	 * job was given more workers while none ran (paused, or queued).
	 */
	if (job->def.workers > 1)
	{
		if (n == 0)
			recut_ranges(job);
		backfill_recover();
	}

	ereport(LOG,
			(errmsg("migrate: backfill job " INT64_FORMAT " on %s.%s runs as %s, pass %d, worker %d of %d",
					job->id, job->relname,
					job->def.column_name, job->def.submitted_by, job->pass, n + 1, job->def.workers)));
	workers_seen = job->def.workers;

	for (;;)
	{
		BackfillState state;
		char	   *held;
		int			old_cap = job->def.max_rows_per_second;
		int64		blocks;
		int64		done = 0;
		double		ms = 0;
		BatchResult result;

		MemoryContextReset(batch_cxt);
		MemoryContextSwitchTo(batch_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		state = control(job, &held);
		if (job->def.max_rows_per_second != old_cap)
		{
			/* a new cap (migrate_backfill_pace) counts from now */
			rate_start = 0;
			rate_rows = 0;
		}
		if (state != BACKFILL_RUNNING)
		{
			ereport(LOG,
					(errmsg("migrate: backfill job " INT64_FORMAT " stops: it is %s", job->id,
							backfill_state_name(state))));
			if (state == BACKFILL_CANCELLED)
				clear_cancelled_job(job);
			break;
		}
		/* migrate_backfill_pace() changed the number of workers */
		if (n >= job->def.workers)
		{
			ereport(LOG,
					(errmsg_plural("migrate: backfill job " INT64_FORMAT " runs with %d worker now: worker %d leaves",
								   "migrate: backfill job " INT64_FORMAT " runs with %d workers now: worker %d leaves",
								   job->def.workers, job->id, job->def.workers, n + 1)));
			break;
		}
		if (job->def.workers > workers_seen)
		{
			recut_ranges(job);
			backfill_recover();
		}
		workers_seen = job->def.workers;
		if (held)
		{
			/* a hold can last hours: each check's strings are freed */
			MemoryContext hold_cxt = AllocSetContextCreate(batch_cxt, "migrate backfill hold",
														   ALLOCSET_SMALL_SIZES);
			char		shown[sizeof(job->activity)] = "";

			/* checked again every second; the reason shown follows it */
			while (held && state == BACKFILL_RUNNING)
			{
				if (strcmp(shown, held) != 0)
				{
					set_state(job, BACKFILL_RUNNING, NULL, held);
					strlcpy(shown, held, sizeof(shown));
					snprintf(job->activity, sizeof(job->activity),
							 "migrate backfill " INT64_FORMAT ": holding, %s", job->id, held);
					pgstat_report_activity(STATE_IDLE, job->activity);
				}
				throttle(job, 1000);
				if (ConfigReloadPending)
				{
					ConfigReloadPending = false;
					ProcessConfigFile(PGC_SIGHUP);
				}
				MemoryContextReset(hold_cxt);
				MemoryContextSwitchTo(hold_cxt);
				state = control(job, &held);
			}
			MemoryContextSwitchTo(batch_cxt);
			set_state(job, BACKFILL_RUNNING, NULL, NULL);
			continue;
		}

		if (job->pass_end < 0)
		{
			if (end_pass(job))
				break;
			continue;
		}

		/* a batch is at most the worker's share of the rate cap */
		if (job->def.max_rows_per_second > 0)
			job->def.batch_size = Min(job->def.batch_size, Max(job->def.max_rows_per_second / job->def.workers, 1));
		blocks = Max((int64) ceil(job->def.batch_size / Max(job->def.rows_per_block, 1.0)), 1);
		result = run_batch(job, blocks, &done, &ms);
		if (result == BATCH_PASS_OVER)
		{
			if (end_pass(job))
				break;
			continue;
		}
		if (result == BATCH_BUSY)
		{
			/* other workers are walking the last ranges of the pass */
			throttle(job, 10);
			continue;
		}
		if (result == BATCH_FAILED)
		{
			if (job->failures < 0)
				break;			/* failed for good, recorded */
			continue;
		}

		/* toward the target duration, at most doubling or halving at once */
		if (ms > 0)
		{
			double		factor = Max(0.5, Min(2.0, job->def.batch_ms / ms));

			job->def.batch_size = (int) Max(1.0, Min((double) job->def.max_batch_size, job->def.batch_size * factor));
		}

		/* throttle: a fixed pause, and the rows-per-second cap */
		{
			long		sleep = job->def.sleep_ms;

			if (job->def.max_rows_per_second > 0)
			{
				TimestampTz now = GetCurrentTimestamp();
				long		elapsed;

				if (rate_start == 0)
					rate_start = TimestampTzPlusMilliseconds(now, -(long) ms);
				rate_rows += done;
				elapsed = (long) ((now - rate_start) / 1000);
				/* the cap is the job's: each worker takes its share */
				sleep = Max(sleep, (long) (rate_rows * 1000 * job->def.workers / job->def.max_rows_per_second) - elapsed);
			}
			if (sleep > 0)
			{
				/* the worker spends most of its time here with the defaults */
				snprintf(job->activity, sizeof(job->activity),
						 "migrate backfill " INT64_FORMAT ": %s.%s pass %d, pausing %ld ms between batches",
						 job->id, job->relname, job->def.column_name, job->pass, sleep);
				pgstat_report_activity(STATE_IDLE, job->activity);
				throttle(job, sleep);
			}
		}
	}

	free_plans(job);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cxt);

	/*
	 * A resume that commits from here on must find no worker on the job and
	 * start one, which must find the worker lock free; the scan below then
	 * sees every resume that committed before.  It also starts the jobs
	 * that found no free slot when submitted.
	 */
	LockRelease(&tag, ExclusiveLock, true);
	leave_slot(slot);
	/* the job's state is committed and we are off it: waiters read it now */
	ConditionVariableBroadcast(&MigrateState->backfill_cv);
	backfill_recover();
}

/*
 * A worker that stops because its job was cancelled clears what the
 * batches it committed after the cancel left behind.
 */
static void
clear_cancelled_job(Job *job)
{
	CatalogUser user;

	catalog_xact_begin(&user);
	SPI_connect();
	backfill_catalog_clear_cancelled(job->id);
	SPI_finish();
	catalog_xact_commit(&user);
}

/* The slot no longer runs its job, though the process is still there. */
static void
leave_slot(MigrateSlot *slot)
{
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	slot->job_id = 0;
	LWLockRelease(MigrateState->lock);
}

/*
 * Reads the job and makes it running.  Returns false if there is nothing
 * to run (not found: its submitter rolled back; or not queued/running).
 */
static bool
load_job(Job *job)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job->id)};
	bool		found = false;
	Oid			submitter;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) catalog_version_ok(ERROR);
	catalog_become_owner(&user);
	SPI_connect();
	if (SPI_execute_with_args("UPDATE migrate.backfill_jobs "
							  "SET state = 'running', started_at = coalesce(started_at, pg_catalog.clock_timestamp()), "
							  "    held_reason = NULL "
							  "WHERE id = $1 AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
							  "RETURNING relid, column_name, expression, where_clause, submitted_by, search_path, "
							  "  batch_size, max_batch_size, coalesce(max_rows_per_second, 0), batch_ms, sleep_ms, "
							  "  rows_per_block, pass, coalesce(pass_end_block, -1), workers, submitter",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, job->id);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *where;

		found = true;
		job->def.relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		job->relname = get_rel_name(job->def.relid);
		job->relname = job->relname ? MemoryContextStrdup(cxt, job->relname) : "(dropped)";
		job->def.column_name = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 2));
		job->def.expression = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 3));
		where = SPI_getvalue(tup, desc, 4);
		job->def.where_clause = where ? MemoryContextStrdup(cxt, where) : NULL;
		job->def.submitted_by = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 5));
		job->def.search_path = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 6));
		job->def.batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		job->def.max_batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
		job->def.max_rows_per_second = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		job->def.batch_ms = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		job->def.sleep_ms = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
		job->def.rows_per_block = DatumGetFloat8(SPI_getbinval(tup, desc, 12, &isnull));
		job->pass = DatumGetInt32(SPI_getbinval(tup, desc, 13, &isnull));
		job->pass_end = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
		job->def.workers = DatumGetInt32(SPI_getbinval(tup, desc, 15, &isnull));
		submitter = DatumGetObjectId(SPI_getbinval(tup, desc, 16, &isnull));
		/* the worker logs in as the submitter: never run it as anyone else */
		if (isnull || submitter != GetSessionUserId())
			elog(ERROR, "backfill job " INT64_FORMAT " was submitted by another role than this worker's",
				 job->id);
	}
	SPI_finish();
	catalog_restore_user(&user);

	/* the worker is logged in as the submitter; its search_path, for good */
	if (found)
		(void) set_config_option("search_path", job->def.search_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SET, true, 0, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return found;
}

/*
 * Prepares the job's statements, in a transaction of the caller's.  The
 * batch and check statements are prepared as the submitting role under its
 * search_path, the progress statement as the extension owner under
 * pg_catalog: each later runs under the same search_path, so the plan
 * cache never re-plans them for a path change.
 */
static void
prepare_plans(Job *job)
{
	Oid			tids[2] = {TIDOID, TIDOID};
	Oid			claim_types[2] = {INT8OID, INT8OID};
	Oid			progress_types[5] = {INT8OID, INT8OID, INT8OID, INT4OID, FLOAT8OID};
	char	   *batch_sql;
	char	   *check_sql;
	CatalogUser user;
	char	   *skip_xids = NULL;

	if (job->batch_plan && job->plan_pass == job->pass)
		return;
	free_plans(job);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(job->def.relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of backfill job " INT64_FORMAT " was dropped", job->id),
				 errhint("Nothing is left to backfill; submit a new job if the table was recreated.")));
	if (get_attnum(job->def.relid, job->def.column_name) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" was dropped or renamed",
						job->def.column_name, get_rel_name(job->def.relid)),
				 errhint("Submit a new job for the column under its current name.")));

	/*
	 * After the first pass, the rows the job's batches wrote are right by
	 * construction: a volatile expression (gen_random_uuid()) would look
	 * different and be written again, the whole table each pass, when all
	 * that is left is the few rows the check found.
	 */
	if (job->pass > 1)
	{
		Datum		xids = batch_xids(job);

		if (xids)
			skip_xids = OidOutputFunctionCall(F_ARRAY_OUT, xids);
	}
	backfill_build_sql(job->def.relid, job->def.column_name, job->def.expression, job->def.where_clause,
					   skip_xids, &batch_sql, &check_sql);
	job->batch_plan = SPI_prepare(batch_sql, 2, tids);
	if (job->batch_plan == NULL)
		elog(ERROR, "could not prepare the backfill batch: %s", SPI_result_code_string(SPI_result));
	job->check_sql = MemoryContextStrdup(GetMemoryChunkContext(job), check_sql);

	/*
	 * The claim takes the first range of the pass that no other worker's
	 * batch holds, and moves it on by $2 blocks: committed with the batch,
	 * rolled back with it.
	 */
	catalog_become_owner(&user);
	job->claim_plan =
		SPI_prepare("WITH c AS (SELECT start_block, next_block FROM migrate.backfill_ranges "
					"  WHERE job_id = $1 AND next_block < end_block "
					"  ORDER BY start_block LIMIT 1 FOR UPDATE SKIP LOCKED) "
					"UPDATE migrate.backfill_ranges r "
					"SET next_block = LEAST(r.next_block + $2, r.end_block) "
					"FROM c WHERE r.job_id = $1 AND r.start_block = c.start_block "
					"RETURNING c.next_block, r.next_block",
					2, claim_types);
	job->progress_plan =
		SPI_prepare("WITH b AS (INSERT INTO migrate.backfill_batches (job_id, xid) "
					"  SELECT $1, pg_catalog.pg_current_xact_id() WHERE $3 OPERATOR(pg_catalog.>) 0) "
					"UPDATE migrate.backfill_jobs SET next_block = next_block + $2, "
					"  rows_done = rows_done + $3, "
					"  batches = batches + 1, batch_size = $4, "
					"  max_batch_ms = GREATEST(max_batch_ms, $5), held_reason = NULL "
					"WHERE id = $1",
					5, progress_types);
	restore_job_user(job, &user);
	if (job->claim_plan == NULL || job->progress_plan == NULL)
		elog(ERROR, "could not prepare the backfill progress statements: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(job->batch_plan);
	SPI_keepplan(job->claim_plan);
	SPI_keepplan(job->progress_plan);
	job->plan_pass = job->pass;
}

/*
 * Back from catalog_become_owner to the job's role and search_path (it
 * switched the path for the transaction), so that the job's statements run
 * as they were planned.
 */
static void
restore_job_user(Job *job, CatalogUser *user)
{
	catalog_restore_user(user);
	(void) set_config_option("search_path", job->def.search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

static void
free_plans(Job *job)
{
	if (job->batch_plan)
		SPI_freeplan(job->batch_plan);
	if (job->claim_plan)
		SPI_freeplan(job->claim_plan);
	if (job->progress_plan)
		SPI_freeplan(job->progress_plan);
	if (job->check_sql)
		pfree(job->check_sql);
	job->batch_plan = job->claim_plan = job->progress_plan = NULL;
	job->check_sql = NULL;
}

/*
 * Reads, in a short read-only transaction of its own, what may have
 * changed under the worker: the job's state (pause, cancel), its pace and
 * number of workers (migrate_backfill_pace), and whether the job must
 * hold: *held is why, or NULL.  It holds while a streaming standby's
 * replay lag exceeds migrate.backfill_max_replica_lag, or while more
 * client sessions than migrate.backfill_max_active_sessions are running a
 * statement (sessions waiting in an extension, such as
 * migrate_backfill_wait(), load nothing).
 * Both are read as the extension owner, because they are hidden from
 * unprivileged roles, from the functions behind pg_stat_replication and
 * pg_stat_activity: the views cost ~0.5 ms more to plan, and this runs
 * before every batch.
 */
static BackfillState
control(Job *job, char **held)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job->id)};
	BackfillState state = BACKFILL_CANCELLED;
	const char *active = migrate_backfill_max_active_sessions == 0 ? "NULL::pg_catalog.int8" :
		"(SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_get_activity(NULL) a "
		" WHERE a.backend_type = 'client backend' AND a.state = 'active' "
		"   AND a.wait_event_type IS DISTINCT FROM 'Extension')";

	*held = NULL;
	catalog_xact_begin(&user);
	SPI_connect();
	if (SPI_execute_with_args(psprintf("SELECT j.state, "
									   "  (SELECT pg_catalog.max(extract(epoch FROM r.replay_lag) * 1000) "
									   "   FROM pg_catalog.pg_stat_get_wal_senders() r WHERE r.state = 'streaming'), "
									   "  j.sleep_ms, coalesce(j.max_rows_per_second, 0), %s, j.workers "
									   "FROM migrate.backfill_jobs j WHERE j.id = $1", active),
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, job->id);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		lag = SPI_getbinval(tup, desc, 2, &isnull);
		double		lag_ms = isnull ? 0 : DatumGetFloat8(DirectFunctionCall1(numeric_float8, lag));
		int64		sessions = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));

		state = backfill_state_parse(SPI_getvalue(tup, desc, 1));
		job->def.sleep_ms = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		job->def.max_rows_per_second = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		job->def.workers = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		if (migrate_backfill_max_replica_lag > 0 && lag_ms > migrate_backfill_max_replica_lag)
			*held = MemoryContextStrdup(cxt,
										psprintf("replica replay lag %.0f ms exceeds migrate.backfill_max_replica_lag (%d ms)",
												 lag_ms, migrate_backfill_max_replica_lag));
		else if (migrate_backfill_max_active_sessions > 0 && sessions > migrate_backfill_max_active_sessions)
			*held = MemoryContextStrdup(cxt,
										psprintf(INT64_FORMAT " active sessions exceed migrate.backfill_max_active_sessions (%d)",
												 sessions, migrate_backfill_max_active_sessions));
	}
	SPI_finish();
	catalog_xact_commit(&user);
	MemoryContextSwitchTo(cxt);
	return state;
}

/*
 * Runs one batch of up to `blocks` blocks, from the first range of the
 * pass no other worker holds, with its progress in one transaction.
 * BATCH_FAILED: the failure is retried later (job->failures counts them)
 * or, when retries are used up or the error cannot go away by itself,
 * recorded as the job's failure (job->failures set to -1).
 */
static BatchResult
run_batch(Job *job, int64 blocks, int64 *done, double *ms)
{
	MemoryContext cxt = CurrentMemoryContext;
	instr_time	start;
	instr_time	end;
	ErrorData  *volatile edata = NULL;
	volatile BatchResult result = BATCH_DONE;
	volatile int64 lo = -1;
	volatile int64 hi = -1;
	char	   *volatile at = "";
	char		buf[32];

	PG_TRY();
	{
		Datum		claim[2] = {Int64GetDatum(job->id), Int64GetDatum(blocks)};
		Datum		args[2];
		Datum		progress[5];
		CatalogUser user;
		bool		isnull;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		snprintf(buf, sizeof(buf), "%d", migrate_backfill_lock_timeout);
		(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);

		/*
		 * The batch and its progress commit together, so a crash that loses
		 * the last commits only makes the job redo those batches: nothing is
		 * lost or counted twice.  Not waiting for the WAL flush keeps the
		 * row locks short.
		 */
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
#ifdef USE_LZ4

		/*
		 * A batch writes the first image of every page it touches after a
		 * checkpoint; the application's next commits have to flush them.
		 * lz4 makes them about a third as big at no measurable cost in time
		 * (README, "Backfills", "WAL").
		 */
		if (migrate_backfill_wal_compression && wal_compression == WAL_COMPRESSION_NONE)
			(void) set_config_option("wal_compression", "lz4", PGC_SUSET, PGC_S_SESSION,
									 GUC_ACTION_LOCAL, true, 0, false);
#endif
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		prepare_plans(job);

		INSTR_TIME_SET_CURRENT(start);
		catalog_become_owner(&user);
		if (SPI_execute_plan(job->claim_plan, claim, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not claim a range of backfill job " INT64_FORMAT, job->id);
		if (SPI_processed == 0)
		{
			/* none free: taken by other workers, or none left to walk */
			if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM migrate.backfill_ranges "
									  "  WHERE job_id = $1 AND next_block < end_block)",
									  1, (Oid[]) {INT8OID}, claim, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not read the ranges of backfill job " INT64_FORMAT, job->id);
			result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
				? BATCH_BUSY : BATCH_PASS_OVER;
		}
		else
		{
			lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		}
		restore_job_user(job, &user);

		if (result == BATCH_DONE)
		{
			snprintf(job->activity, sizeof(job->activity),
					 "migrate backfill " INT64_FORMAT ": %s.%s pass %d blocks " INT64_FORMAT "-" INT64_FORMAT " of " INT64_FORMAT,
					 job->id, job->relname,
					 job->def.column_name, job->pass, (int64) lo, (int64) hi, job->pass_end);
			debug_query_string = job->activity;
			pgstat_report_activity(STATE_RUNNING, job->activity);

			args[0] = tid_datum(lo);
			args[1] = tid_datum(hi);
			enable_timeout_after(STATEMENT_TIMEOUT, migrate_backfill_statement_timeout);
			if (SPI_execute_plan(job->batch_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "backfill batch did not run as an UPDATE");
			*done = SPI_processed;

			INSTR_TIME_SET_CURRENT(end);
			INSTR_TIME_SUBTRACT(end, start);
			*ms = INSTR_TIME_GET_MILLISEC(end);

			progress[0] = Int64GetDatum(job->id);
			progress[1] = Int64GetDatum(hi - lo);
			progress[2] = Int64GetDatum(*done);
			progress[3] = Int32GetDatum(job->def.batch_size);
			progress[4] = Float8GetDatum(*ms);
			catalog_become_owner(&user);
			if (SPI_execute_plan(job->progress_plan, progress, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not record backfill progress");
			restore_job_user(job, &user);
		}

		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
		disable_timeout(STATEMENT_TIMEOUT, false);

		/* the locks were held until the commit returned */
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_SUBTRACT(end, start);
		*ms = INSTR_TIME_GET_MILLISEC(end);
	}
	PG_CATCH();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		edata = migrate_take_error(cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);

	if (edata == NULL && result != BATCH_DONE)
		return result;
	if (edata == NULL)
	{
		job->failures = 0;
		return BATCH_DONE;
	}

	if (lo >= 0)
		at = psprintf(" at blocks " INT64_FORMAT "-" INT64_FORMAT, (int64) lo, (int64) hi);
	free_plans(job);
	job->failures++;
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		job->def.batch_size = Max(1, job->def.batch_size / 2);

	if (job->failures > migrate_backfill_max_retries ||
		edata->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
		edata->sqlerrcode == ERRCODE_UNDEFINED_COLUMN ||
		edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION)
	{
		char	   *msg = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message);

		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " failed after %d attempts%s: %s",
						job->id, job->failures, at, edata->message)));
		set_state(job, BACKFILL_FAILED, msg, NULL);
		job->failures = -1;
	}
	else
	{
		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " batch%s failed, retry %d of %d: %s",
						job->id, at, job->failures, migrate_backfill_max_retries, edata->message)));
		set_state(job, BACKFILL_RUNNING, psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message), NULL);
		throttle(job, retry_backoff_ms(job->failures, 100.0, 10000.0));
	}
	FreeErrorData(edata);
	return BATCH_FAILED;
}

/*
 * At the end of a pass (or before the first): counts, with one snapshot
 * and no row locks, the rows still to do; they are what the pass had to
 * leave behind, and are added to skipped_locked.  None: the job is done.
 * Some: another pass starts over the table as it is now, cut into ranges
 * for the job's workers; if the pass that just ended could change nothing
 * (everything left is locked by others), wait a little first rather than
 * spin.  One worker ends a pass, under a transaction-level advisory lock;
 * the others wait for that lock, then find its new ranges (or the job
 * finished) and go on.  Returns true when the worker should stop.
 */
static bool
end_pass(Job *job)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int64 remaining = 0;
	volatile int64 nblocks = 0;
	volatile bool first = false;
	volatile bool idle = false;
	volatile bool other = false;	/* another worker ended it */
	ErrorData  *volatile edata = NULL;

	snprintf(job->activity, sizeof(job->activity),
			 "migrate backfill " INT64_FORMAT ": %s.%s checking for rows left after pass %d",
			 job->id, job->relname,
			 job->def.column_name, job->pass);

	PG_TRY();
	{
		CatalogUser user;
		Oid			types[6] = {INT8OID, INT4OID, INT8OID, BOOLOID, INT8OID, INT8OID};
		Datum		values[6];
		Relation	rel;
		LOCKTAG		tag;
		bool		isnull;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		pgstat_report_activity(STATE_RUNNING, job->activity);
		set_advisory_tag(&tag, job, 0, BACKFILL_PASS_LOCK_CLASS);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		SPI_connect();
		/* taken after the lock: sees what the previous holder committed */
		PushActiveSnapshot(GetTransactionSnapshot());
		prepare_plans(job);

		values[0] = Int64GetDatum(job->id);
		catalog_become_owner(&user);
		if (SPI_execute_with_args("SELECT pass, coalesce(pass_end_block, -1), rows_done = pass_start_rows, "
								  "  state <> 'running' OR EXISTS (SELECT FROM migrate.backfill_ranges r "
								  "          WHERE r.job_id = j.id AND r.next_block < r.end_block) "
								  "FROM migrate.backfill_jobs j WHERE id = $1",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read backfill job " INT64_FORMAT, job->id);
		job->pass = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		job->pass_end = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		idle = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		other = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		first = job->pass_end < 0;
		restore_job_user(job, &user);

		if (!other)
		{
			int64		nranges = job->def.workers == 1 ? 1 : job->def.workers * 4;

			if (!first)
			{
				Oid			check_types[3] = {TIDOID, TIDOID, XIDARRAYOID};
				Datum		check_args[3];
				char		check_nulls[3] = {' ', ' ', ' '};

				check_args[0] = tid_datum(0);
				check_args[1] = tid_datum((int64) MaxBlockNumber);
				/* none yet: xmin = ANY (NULL) is not true, every row is checked */
				check_args[2] = batch_xids(job);
				if (check_args[2] == (Datum) 0)
					check_nulls[2] = 'n';

				/*
				 * One-shot, so that the planner sees the array as a constant
				 * and looks the xmin up in a hash table rather than the whole
				 * list.
				 */
				if (SPI_execute_with_args(job->check_sql, 3, check_types, check_args, check_nulls, true, 0) != SPI_OK_SELECT)
					elog(ERROR, "backfill check did not return a count");
				remaining = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			}

			rel = relation_open(job->def.relid, AccessShareLock);
			nblocks = RelationGetNumberOfBlocks(rel);
			relation_close(rel, AccessShareLock);

			values[1] = Int32GetDatum(first ? job->pass : job->pass + 1);
			values[2] = Int64GetDatum(nblocks);
			values[3] = BoolGetDatum(first || remaining > 0);
			values[4] = Int64GetDatum(remaining);
			values[5] = Int64GetDatum(Min(nranges, nblocks));
			catalog_become_owner(&user);
			if (SPI_execute_with_args("UPDATE migrate.backfill_jobs "
									  "SET pass = CASE WHEN $4 THEN $2 ELSE pass END, "
									  "    next_block = CASE WHEN $4 THEN 0 ELSE next_block END, "
									  "    pass_end_block = CASE WHEN $4 THEN $3 ELSE pass_end_block END, "
									  "    pass_start_rows = rows_done, "
									  "    state = CASE WHEN $4 OR state <> 'running' THEN state ELSE 'done' END, "
									  "    finished_at = CASE WHEN $4 OR state <> 'running' THEN finished_at "
									  "                       ELSE pg_catalog.clock_timestamp() END, "
									  "    held_reason = NULL, last_error = CASE WHEN $4 THEN last_error END, "
									  "    skipped_locked = skipped_locked + $5 "
									  "WHERE id = $1",
									  5, types, values, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not record the end of a backfill pass");
			if (SPI_execute_with_args("DELETE FROM migrate.backfill_ranges WHERE job_id = $1",
									  1, types, values, NULL, false, 0) != SPI_OK_DELETE ||
				SPI_execute_with_args("DELETE FROM migrate.backfill_batches b USING migrate.backfill_jobs j "
									  "WHERE b.job_id = $1 AND j.id = $1 AND j.state = 'done'",
									  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not clear the ranges and batches of backfill job " INT64_FORMAT, job->id);
			if ((first || remaining > 0) &&
				SPI_execute_with_args("INSERT INTO migrate.backfill_ranges (job_id, start_block, next_block, end_block) "
									  "SELECT $1, $3 * i / $6, $3 * i / $6, $3 * (i + 1) / $6 "
									  "FROM pg_catalog.generate_series(0, $6 - 1) i",
									  6, types, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not cut backfill job " INT64_FORMAT " into ranges", job->id);
			restore_job_user(job, &user);
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		edata = migrate_take_error(cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (edata)
	{
		/* the table or column is gone, or the expression cannot run */
		free_plans(job);
		set_state(job, BACKFILL_FAILED, psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode), edata->message), NULL);
		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " failed: %s", job->id, edata->message)));
		return true;
	}
	if (other)
		return false;			/* walk its ranges; control() sees an ended job */
	if (!first && remaining == 0)
	{
		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " is done after %d passes", job->id, job->pass)));
		return true;
	}
	if (!first)
	{
		job->pass++;
		if (idle)
		{
			set_state(job, BACKFILL_RUNNING, NULL, "every row left is locked by other transactions");
			throttle(job, 1000);
		}
	}
	job->pass_end = nblocks;
	return false;
}

/*
 * The transactions of the job's batches so far, any worker's, as an xid[]
 * (0 if none), from migrate.backfill_batches: read as the extension owner,
 * in the caller's SPI connection, back as the job's role after.
 */
static Datum
batch_xids(Job *job)
{
	CatalogUser user;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(job->id)};
	bool		isnull;
	Datum		xids;

	catalog_become_owner(&user);
	if (SPI_execute_with_args("SELECT pg_catalog.array_agg(xid::pg_catalog.xid) "
							  "FROM migrate.backfill_batches WHERE job_id = $1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the batches of backfill job " INT64_FORMAT, job->id);
	xids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	restore_job_user(job, &user);
	return isnull ? (Datum) 0 : xids;
}

/*
 * More workers for a running job: cuts what is left of the pass into at
 * least 4 ranges per worker, as end_pass would have, so that the new ones
 * have blocks of their own to walk now rather than from the next pass.
 * Each unfinished range keeps its first piece (its position is the piece's
 * start) and gives up the rest as new ranges, in one transaction that
 * locks the ranges the way a batch's claim does, so no block is lost or
 * walked twice, also after a crash.
 */
static void
recut_ranges(Job *job)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(job->id), Int32GetDatum(job->def.workers * 4)};

	catalog_xact_begin(&user);
	SPI_connect();
	if (SPI_execute_with_args("WITH r AS (SELECT start_block, next_block, end_block FROM migrate.backfill_ranges "
							  "           WHERE job_id = $1 AND next_block < end_block FOR UPDATE), "
							  "p AS (SELECT r.*, LEAST(r.end_block - r.next_block, "
							  "             pg_catalog.ceil($2::pg_catalog.numeric / pg_catalog.count(*) OVER ())::pg_catalog.int8) AS pieces "
							  "      FROM r), "
							  "cut AS (SELECT p.start_block AS range_start, i, "
							  "               p.next_block + (p.end_block - p.next_block) * i / p.pieces AS lo, "
							  "               p.next_block + (p.end_block - p.next_block) * (i + 1) / p.pieces AS hi "
							  "        FROM p, pg_catalog.generate_series(0, p.pieces - 1) i), "
							  "kept AS (UPDATE migrate.backfill_ranges b SET end_block = c.hi FROM cut c "
							  "         WHERE c.i = 0 AND b.job_id = $1 AND b.start_block = c.range_start) "
							  "INSERT INTO migrate.backfill_ranges (job_id, start_block, next_block, end_block) "
							  "SELECT $1, lo, lo, hi FROM cut WHERE i > 0",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not cut backfill job " INT64_FORMAT " into ranges", job->id);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " runs with %d workers: the rest of pass %d is cut into " UINT64_FORMAT " more ranges",
						job->id, job->def.workers, job->pass, SPI_processed)));
	SPI_finish();
	catalog_xact_commit(&user);
	MemoryContextSwitchTo(cxt);
}

/*
 * Records a state change, an error or a hold reason in a transaction of
 * its own.  A job cancelled or paused meanwhile keeps that state.
 */
static void
set_state(Job *job, BackfillState state, const char *error, const char *held)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', error ? ' ' : 'n', held ? ' ' : 'n'};

	values[0] = Int64GetDatum(job->id);
	values[1] = CStringGetTextDatum(backfill_state_name(state));
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	values[3] = held ? CStringGetTextDatum(held) : (Datum) 0;

	catalog_xact_begin(&user);
	SPI_connect();
	if (SPI_execute_with_args("UPDATE migrate.backfill_jobs "
							  "SET state = CASE WHEN state = 'running' THEN $2 ELSE state END, "
							  "    last_error = coalesce($3, last_error), held_reason = $4, "
							  "    retries = retries + CASE WHEN $2 = 'running' AND $3 IS NOT NULL THEN 1 ELSE 0 END, "
							  "    finished_at = CASE WHEN state = 'running' AND $2 <> 'running' "
							  "                       THEN pg_catalog.clock_timestamp() ELSE finished_at END "
							  "WHERE id = $1",
							  4, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the state of backfill job " INT64_FORMAT, job->id);
	SPI_finish();
	catalog_xact_commit(&user);
	MemoryContextSwitchTo(cxt);
}

/*
 * Sleeps between batches; pause and cancel set our latch (at the commit
 * of the transaction that asked) so that they take effect at once.
 */
static void
throttle(Job *job, long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/* The lock tag of advisory lock n of a class for this job. */
static void
set_advisory_tag(LOCKTAG *tag, Job *job, uint32 n, uint16 class)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) job->id, n, class);
}

/* The first tid of a block, for the TID range scan's bounds. */
static Datum
tid_datum(int64 block)
{
	ItemPointer tid = palloc(sizeof(ItemPointerData));

	ItemPointerSet(tid, (BlockNumber) Min(block, (int64) MaxBlockNumber), 0);
	return PointerGetDatum(tid);
}

/*
 * Queues workers for every job of this database that should run and has
 * fewer than its `workers`: after a restart or crash (from the scan job),
 * when a backfill worker ends (a job submitted while every slot was taken,
 * or resumed while the worker was leaving) and when the first worker of a
 * parallel job starts (its helpers).  Runs in the caller's transaction if
 * there is one.
 */
void
backfill_recover(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		own_xact = !IsTransactionState();
	CatalogUser user;
	uint64		i;
	uint64		njobs;
	int			queued = 0;
	struct
	{
		int64		id;
		Oid			submitter;
		int			workers;
	}		   *jobs;

	if (own_xact)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	if (!OidIsValid(get_extension_oid("migrate", true)) || !catalog_version_ok(LOG))
		goto out;

	catalog_become_owner(&user);
	SPI_connect();
	if (SPI_execute("SELECT id, submitter, workers FROM migrate.backfill_jobs "
					"WHERE state OPERATOR(pg_catalog.=) ANY ('{queued,running}') AND submitter IS NOT NULL "
					"ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list backfill jobs");
	catalog_restore_user(&user);
	njobs = SPI_processed;
	jobs = palloc(sizeof(*jobs) * Max(njobs, 1));
	for (i = 0; i < njobs; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];

		jobs[i].id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		jobs[i].submitter = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		jobs[i].workers = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	}
	SPI_finish();

	/* the jobs are read: the lock is only taken to fill slots */
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	for (i = 0; i < njobs; i++)
	{
		int			busy = 0;
		int			s;

		for (s = 0; s < MIGRATE_MAX_SLOTS; s++)
		{
			if (migrate_slot_has_backfill(&MigrateState->slots[s], jobs[i].id))
				busy++;
		}
		for (; busy < jobs[i].workers; busy++)
		{
			s = migrate_slot_alloc(MIGRATE_JOB_BACKFILL, MyDatabaseId);
			if (s < 0)
				break;
			MigrateState->slots[s].job_id = jobs[i].id;
			MigrateState->slots[s].role = jobs[i].submitter;
			queued++;
		}
	}
	LWLockRelease(MigrateState->lock);

out:
	if (own_xact)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	MemoryContextSwitchTo(cxt);
	if (queued > 0)
		migrate_wake_launcher();
}

/*
 * Called by the runner after the steps of a migration that started
 * backfills: waits, outside any transaction, until the latest job of each
 * column that this migration (and direction) submitted is done.  A failed
 * or cancelled job fails the migration with its error in *edata.
 */
RunResult
backfill_await_migration(RunContext *ctx, const char *version, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(ctx->rollback ? "rollback" : "apply");

	for (;;)
	{
		CatalogUser user;
		int			pending = 0;
		char	   *failure = NULL;
		uint64		i;

		/* before the read, so that no broadcast between the two is missed */
		ConditionVariablePrepareToSleep(&MigrateState->backfill_cv);
		catalog_xact_begin(&user);
		SPI_connect();
		if (SPI_execute_with_args("SELECT j.id, j.state, j.last_error, j.relation, j.column_name "
								  "FROM migrate.backfill_jobs j "
								  "WHERE j.migration = $1 AND j.migration_action = $2 "
								  "  AND NOT EXISTS (SELECT FROM migrate.backfill_jobs k "
								  "    WHERE k.migration = j.migration AND k.migration_action = j.migration_action "
								  "      AND k.relid = j.relid AND k.column_name = j.column_name AND k.id > j.id) "
								  "ORDER BY j.id",
								  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the backfills of migration %s", version);
		for (i = 0; i < SPI_processed && failure == NULL; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *state_name = SPI_getvalue(tup, desc, 2);
			BackfillState state = backfill_state_parse(state_name);

			if (state == BACKFILL_FAILED || state == BACKFILL_CANCELLED)
			{
				char	   *error = SPI_getvalue(tup, desc, 3);

				failure = MemoryContextStrdup(cxt,
											  psprintf("backfill job %s of %s.%s was %s%s%s",
													   SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 4),
													   SPI_getvalue(tup, desc, 5), state_name,
													   error ? ": " : "", error ? error : ""));
			}
			else if (state != BACKFILL_DONE)
				pending++;
		}
		SPI_finish();
		catalog_xact_commit(&user);
		MemoryContextSwitchTo(cxt);

		if (failure || pending == 0 || ctx->slot->stop_requested)
			ConditionVariableCancelSleep();
		if (failure)
		{
			ErrorData  *e = palloc0(sizeof(ErrorData));

			e->elevel = ERROR;
			e->sqlerrcode = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
			e->message = failure;
			/* palloc'd, as in CopyErrorData(): FreeErrorData() may free it */
			e->hint = pstrdup("Fix the cause, call migrate_backfill_resume(id), then migrate_apply() again: it waits for the backfill.");
			*edata = e;
			return RUN_FAILED;
		}
		if (pending == 0)
			return RUN_OK;
		if (ctx->slot->stop_requested)
			return RUN_STOPPED;

		pgstat_report_activity(STATE_IDLE,
							   psprintf("migrate: migration %s waits for %d backfill job(s)", version, pending));
		/* woken when a backfill worker stops; the timeout notices a stop request */
		(void) ConditionVariableTimedSleep(&MigrateState->backfill_cv, 250L, PG_WAIT_EXTENSION);
	}
}
