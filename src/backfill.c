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
 * This file owns the statements over the user's table (the batch and the
 * check, built by backfill_build_sql) and the shape of every transaction:
 * which catalog writes commit with a batch's rows.  The backfill tables
 * themselves are read and written only through backfill_catalog.c, which
 * knows nothing of this file.
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
	SPIPlanPtr	batch_plan;
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
	backfill_catalog_clear_cancelled(job->id);
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
	bool		found;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) catalog_version_ok(ERROR);
	catalog_become_owner(&user);
	/* the job's strings live as long as the job */
	MemoryContextSwitchTo(cxt);
	found = backfill_catalog_start_job(job->id, &job->def, &job->pass, &job->pass_end);
	if (found)
	{
		job->relname = get_rel_name(job->def.relid);
		if (job->relname == NULL)
			job->relname = "(dropped)";
		/* the worker logs in as the submitter: never run it as anyone else */
		if (job->def.submitter != GetSessionUserId())
			elog(ERROR, "backfill job " INT64_FORMAT " was submitted by another role than this worker's",
				 job->id);
	}
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
 * Prepares the job's statements over its table, in a transaction of the
 * caller's, as the submitting role under its search_path: they later run
 * under the same path, so the plan cache never re-plans them for a path
 * change (the claim and progress statements are backfill_catalog.c's,
 * kept under the extension owner's path).
 */
static void
prepare_plans(Job *job)
{
	Oid			tids[2] = {TIDOID, TIDOID};
	char	   *batch_sql;
	char	   *check_sql;
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
	if (SPI_keepplan(job->batch_plan) != 0)
		elog(ERROR, "could not keep the backfill batch's plan");
	job->check_sql = MemoryContextStrdup(GetMemoryChunkContext(job), check_sql);
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
	if (job->check_sql)
		pfree(job->check_sql);
	job->batch_plan = NULL;
	job->check_sql = NULL;
}

/*
 * Reads, in a short read-only transaction of its own, what may have
 * changed under the worker: the job's state (pause, cancel), its pace and
 * number of workers (migrate_backfill_pace), and whether the job must
 * hold: *held is why, or NULL.  It holds while a streaming standby's
 * replay lag exceeds migrate.backfill_max_replica_lag, or while more
 * client sessions than migrate.backfill_max_active_sessions are running a
 * statement.  Read as the extension owner, who may see both.
 */
static BackfillState
control(Job *job, char **held)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	BackfillControl c;
	BackfillState state = BACKFILL_CANCELLED;

	*held = NULL;
	catalog_xact_begin(&user);
	if (backfill_catalog_read_control(job->id, migrate_backfill_max_active_sessions > 0, &c))
	{
		state = c.state;
		job->def.sleep_ms = c.sleep_ms;
		job->def.max_rows_per_second = c.max_rows_per_second;
		job->def.workers = c.workers;
		if (migrate_backfill_max_replica_lag > 0 && c.replica_lag_ms > migrate_backfill_max_replica_lag)
			*held = MemoryContextStrdup(cxt,
										psprintf("replica replay lag %.0f ms exceeds migrate.backfill_max_replica_lag (%d ms)",
												 c.replica_lag_ms, migrate_backfill_max_replica_lag));
		else if (migrate_backfill_max_active_sessions > 0 &&
				 c.active_sessions > migrate_backfill_max_active_sessions)
			*held = MemoryContextStrdup(cxt,
										psprintf(INT64_FORMAT " active sessions exceed migrate.backfill_max_active_sessions (%d)",
												 c.active_sessions, migrate_backfill_max_active_sessions));
	}
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
		Datum		args[2];
		CatalogUser user;
		BackfillClaim claim;
		int64		claimed_lo;
		int64		claimed_hi;

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
		claim = backfill_catalog_claim_range(job->id, blocks, &claimed_lo, &claimed_hi);
		restore_job_user(job, &user);
		if (claim == BACKFILL_CLAIMED)
		{
			lo = claimed_lo;
			hi = claimed_hi;
		}
		else
			result = claim == BACKFILL_CLAIM_BUSY ? BATCH_BUSY : BATCH_PASS_OVER;

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

			/* in the batch's transaction: the progress commits with the rows */
			catalog_become_owner(&user);
			backfill_catalog_record_batch(job->id, hi - lo, *done, job->def.batch_size, *ms);
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
		BackfillPassStatus status;
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

		catalog_become_owner(&user);
		backfill_catalog_pass_status(job->id, &status);
		restore_job_user(job, &user);
		job->pass = status.pass;
		job->pass_end = status.pass_end;
		idle = status.idle;
		other = status.ended;
		first = job->pass_end < 0;

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

			catalog_become_owner(&user);
			backfill_catalog_end_pass(job->id, first ? job->pass : job->pass + 1, nblocks,
									  first || remaining > 0, remaining, Min(nranges, nblocks));
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
 * The transactions of the job's batches so far (backfill_catalog_batch_xids),
 * read as the extension owner in the caller's transaction, back as the
 * job's role after.
 */
static Datum
batch_xids(Job *job)
{
	CatalogUser user;
	Datum		xids;

	catalog_become_owner(&user);
	xids = backfill_catalog_batch_xids(job->id);
	restore_job_user(job, &user);
	return xids;
}

/*
 * More workers for a running job: cuts what is left of the pass into at
 * least 4 ranges per worker, as end_pass would have, so that the new ones
 * have blocks of their own to walk now rather than from the next pass
 * (backfill_catalog_recut_ranges, in a transaction of its own that locks
 * the ranges the way a batch's claim does, so no block is lost or walked
 * twice, also after a crash).
 */
static void
recut_ranges(Job *job)
{
	MemoryContext cxt = CurrentMemoryContext;
	CatalogUser user;
	uint64		added;

	catalog_xact_begin(&user);
	added = backfill_catalog_recut_ranges(job->id, job->def.workers * 4);
	if (added > 0)
		ereport(LOG,
				(errmsg("migrate: backfill job " INT64_FORMAT " runs with %d workers: the rest of pass %d is cut into " UINT64_FORMAT " more ranges",
						job->id, job->def.workers, job->pass, added)));
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

	catalog_xact_begin(&user);
	backfill_catalog_record_state(job->id, state, error, held);
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
	List	   *jobs;
	ListCell   *lc;
	int			queued = 0;

	if (own_xact)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	if (!OidIsValid(get_extension_oid("migrate", true)) || !catalog_version_ok(LOG))
		goto out;

	catalog_become_owner(&user);
	jobs = backfill_catalog_runnable_jobs();
	catalog_restore_user(&user);

	/* the jobs are read: the lock is only taken to fill slots */
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	foreach(lc, jobs)
	{
		BackfillRunnable *job = lfirst(lc);
		int			busy = 0;
		int			s;

		for (s = 0; s < MIGRATE_MAX_SLOTS; s++)
		{
			if (migrate_slot_has_backfill(&MigrateState->slots[s], job->id))
				busy++;
		}
		for (; busy < job->workers; busy++)
		{
			s = migrate_slot_alloc(MIGRATE_JOB_BACKFILL, MyDatabaseId);
			if (s < 0)
				break;
			MigrateState->slots[s].job_id = job->id;
			MigrateState->slots[s].role = job->submitter;
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
	HistoryAction action = ctx->rollback ? HISTORY_ROLLBACK : HISTORY_APPLY;

	for (;;)
	{
		CatalogUser user;
		int			pending = 0;
		char	   *failure = NULL;
		List	   *jobs;
		ListCell   *lc;

		/* before the read, so that no broadcast between the two is missed */
		ConditionVariablePrepareToSleep(&MigrateState->backfill_cv);
		catalog_xact_begin(&user);
		jobs = backfill_catalog_migration_jobs(version, action);
		foreach(lc, jobs)
		{
			BackfillMigrationJob *job = lfirst(lc);

			if (job->state == BACKFILL_FAILED || job->state == BACKFILL_CANCELLED)
			{
				failure = MemoryContextStrdup(cxt,
											  psprintf("backfill job " INT64_FORMAT " of %s.%s was %s%s%s",
													   job->id, job->relation, job->column_name,
													   backfill_state_name(job->state),
													   job->last_error ? ": " : "",
													   job->last_error ? job->last_error : ""));
				break;
			}
			if (job->state != BACKFILL_DONE)
				pending++;
		}
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
