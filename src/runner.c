/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Runs one migration in the background worker.
 *
 * A migration is split into steps (script.c).  A one-step transactional
 * migration runs in a single transaction that also inserts its history
 * row, so a crash leaves either both or neither.  A migration with
 * statements that cannot run in a transaction block records a "running"
 * history row first and its progress after each step, so that applying
 * again resumes at the step that did not finish.
 *
 * Every step runs under lock_timeout and is retried with exponential
 * backoff and jitter when it cannot get its lock, so the application's
 * queries never queue behind a migration for longer than one attempt's
 * timeout: short at first, longer at each retry (retry.c), until the
 * step's lock wait budget is spent.
 *
 * src/runner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate/backfill.h"
#include "migrate/compat.h"
#include "migrate/run_catalog.h"
#include "migrate/runner.h"
#include "migrate/guard.h"
#include "migrate/lint.h"
#include "migrate/retry.h"
#include "migrate/script.h"
#include "migrate/util.h"

bool		migrate_runner_active = false;
RunContext *migrate_runner_context = NULL;

/* What one attempt at a step needs. */
typedef struct StepRun
{
	RunContext *ctx;
	MigrationDef *m;
	const char *sql;			/* the script */
	List	   *stmts;			/* ScriptStmt */
	ScriptStep *step;
	int			stepno;			/* 0-based */
	int			nsteps;
	int64		history_id;		/* 0 for a one-step migration */
	bool		resuming;		/* this step was started by an earlier attempt */
	int			retries;		/* of the whole migration, for its history */
	int			attempt;		/* of this step for its lock, 0: the first */
	TimestampTz first_attempt_at;	/* of this step */
	TimestampTz started_at;
	volatile int current;		/* statement being run, index into stmts */
	bool		allowed[RULE_COUNT];	/* by the script's allow comments */
} StepRun;

static bool is_utility(Node *stmt);
static void run_transactional_step(StepRun *r);
static void run_toplevel_step(StepRun *r);
static bool toplevel_already_done(StepRun *r, ScriptStmt *s);
static void drop_invalid_index(StepRun *r, ScriptStmt *s);
static void exec_toplevel(const char *sql, Node *stmt, int location, int length);
static int	attempt_lock_timeout(StepRun *r);
static void set_lock_timeout(int ms, GucAction action);
static void record_failure(StepRun *r, ErrorData *edata);
static bool backoff(StepRun *r);
static void publish(StepRun *r, bool waits);

/*
 * Refuses to run a migration whose owner is gone, or whose script is not
 * the one the run planned (it was registered again since).
 */
static void
check_planned(StepRun *r, MigrationDef *planned)
{
	const char *now = r->ctx->rollback ? r->m->down_checksum : r->m->checksum;
	const char *then = r->ctx->rollback ? planned->down_checksum : planned->checksum;

	if (!OidIsValid(r->m->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s belongs to a role that no longer exists", r->m->version),
				 errdetail("A migration runs as the role that registered it."),
				 errhint("Register it again as the role it is to run as (a superuser may), then apply again.")));
	if (then && (now == NULL || strcmp(now, then) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the %s script of migration %s changed after the run was planned",
						r->ctx->rollback ? "down" : "up", r->m->version),
				 errdetail("The run planned the script with checksum %s; the registered one has %s.",
						   then, now ? now : "none"),
				 errhint("Review the new script (migrate_plan()), then apply again: a run only runs the scripts it planned.")));
}

RunResult
runner_run_migration(RunContext *ctx, MigrationDef *planned)
{
	const char *version = planned->version;
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "migrate migration",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	StepRun		r;
	List	   *steps;
	LatestState latest;
	CatalogUser user;
	RunResult	result = RUN_OK;
	int			start_step = 0;
	int			backfill_stmt = -1;
	ListCell   *lc;
	char	   *what;
	ErrorData  *volatile refused = NULL;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.started_at = GetCurrentTimestamp();

	/* Load the script and where an earlier attempt stopped. */
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
	catalog_become_owner(&user);
	r.m = catalog_migration(version);
	catalog_latest(version, &latest);
	catalog_xact_commit(&user);
	MemoryContextSwitchTo(cxt);

	/*
	 * A resumed run skips what it finished before the interruption (a
	 * repeatable migration: if it ran with the script planned).
	 */
	if (latest.exists &&
		latest.state == (ctx->rollback ? MIGRATION_ROLLED_BACK : MIGRATION_APPLIED) &&
		!(r.m->repeatable && !ctx->rollback &&
		  (latest.checksum == NULL || strcmp(latest.checksum, r.m->checksum) != 0)))
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return RUN_OK;
	}

	/* It runs as its owner, in a worker logged in as that role. */
	if (OidIsValid(r.m->owner) && r.m->owner != GetSessionUserId())
	{
		ctx->next_owner = r.m->owner;
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return RUN_HANDOFF;
	}

	/*
	 * What refuses the whole script is recorded as a failed attempt naming
	 * no statement: a script changed since planning, an owner gone, no down
	 * script, or one this version of the parser refuses (stored by an older
	 * one).
	 */
	what = psprintf("%s script of migration %s", ctx->rollback ? "down" : "up", version);
	r.sql = ctx->rollback ? r.m->down_sql : r.m->up_sql;
	PG_TRY();
	{
		check_planned(&r, planned);
		if (r.sql == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s has no down script", version),
					 errhint("Register the migration again with a down script, then roll back.")));
		r.stmts = script_parse(r.sql, what);
	}
	PG_CATCH();
	{
		refused = migrate_take_error(cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (refused)
	{
		/* an interrupted attempt's own row, if it left one */
		if (latest.exists && latest.state == MIGRATION_RUNNING &&
			latest.action == (ctx->rollback ? HISTORY_ROLLBACK : HISTORY_APPLY))
		{
			r.history_id = latest.id;
			r.stepno = latest.steps_done;
		}
		r.nsteps = Max(r.stepno, 1);
		record_failure(&r, refused);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return RUN_FAILED;
	}
	steps = script_steps(r.stmts, r.m->transactional);
	r.nsteps = list_length(steps);
	lint_script_allows(r.sql, r.allowed);

	/* An interrupted or failed multi-step attempt of the same script resumes. */
	if (latest.exists &&
		latest.action == (ctx->rollback ? HISTORY_ROLLBACK : HISTORY_APPLY) &&
		(latest.state == MIGRATION_RUNNING || latest.state == MIGRATION_FAILED) &&
		latest.checksum && strcmp(latest.checksum, r.m->checksum) == 0)
		start_step = Min(latest.steps_done, r.nsteps);

	/* under the lock: the waiting caller and migrate.live() read them */
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	strlcpy(ctx->slot->version, version, MIGRATE_VERSION_LEN);
	ctx->slot->steps_total = r.nsteps;
	ctx->slot->retries = 0;
	LWLockRelease(MigrateState->lock);
	migrate_runner_context = ctx;

	/* a script that starts a backfill stays "running" until it is done */
	foreach(lc, r.stmts)
		if (((ScriptStmt *) lfirst(lc))->starts_backfill)
			backfill_stmt = foreach_current_index(lc);

	/* An attempt a crash interrupted goes on in its own history row. */
	if (start_step > 0 && latest.state == MIGRATION_RUNNING)
		r.history_id = latest.id;
	else if (r.nsteps > 1 || ((ScriptStep *) linitial(steps))->toplevel || start_step > 0 ||
			 backfill_stmt >= 0)
	{
		catalog_xact_begin(&user);
		r.history_id = catalog_history_start(ctx->run_id, r.m, ctx->rollback, start_step, r.nsteps);
		catalog_xact_commit(&user);
		MemoryContextSwitchTo(cxt);
	}

	/*
	 * Refuse an unsafe migration before any of its steps runs, as a failed
	 * attempt naming the rule and the fix.  The DDL guard lets the steps'
	 * statements through because of this check.
	 */
	if (start_step < r.nsteps)
	{
		int			bad = 0;
		ErrorData  *refused = lint_check_migration(r.sql, r.stmts, r.m->transactional,
												   ((ScriptStep *) list_nth(steps, start_step))->first,
												   retry_lock_timeout(&ctx->lock, 0), &bad);

		MemoryContextSwitchTo(cxt);
		if (refused)
		{
			r.stepno = start_step;
			r.step = list_nth(steps, start_step);
			r.current = bad;
			record_failure(&r, refused);
			result = RUN_FAILED;
		}
	}

	for (r.stepno = start_step; r.stepno < r.nsteps && result == RUN_OK; r.stepno++)
	{
		r.step = list_nth(steps, r.stepno);
		r.resuming = (r.stepno == start_step && start_step > 0);
		r.attempt = 0;
		r.first_attempt_at = GetCurrentTimestamp();

		for (;;)
		{
			ErrorData  *edata;

			publish(&r, false);
			PG_TRY();
			{
				if (r.step->toplevel)
					run_toplevel_step(&r);
				else
					run_transactional_step(&r);
				edata = NULL;
			}
			PG_CATCH();
			{
				edata = migrate_take_error(cxt);
				migrate_runner_active = false;
				guard_runner_end();
			}
			PG_END_TRY();
			MemoryContextSwitchTo(cxt);

			if (edata == NULL)
				break;
			if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && backoff(&r))
			{
				r.resuming = r.step->toplevel;
				continue;
			}
			if (ctx->slot->stop_requested)
				result = RUN_STOPPED;
			else
			{
				record_failure(&r, edata);
				result = RUN_FAILED;
			}
			break;
		}
	}

	if (result == RUN_OK && backfill_stmt >= 0)
	{
		ErrorData  *edata = NULL;

		result = backfill_await_migration(ctx, version, &edata);
		MemoryContextSwitchTo(cxt);
		if (result == RUN_FAILED)
		{
			r.step = llast(steps);
			r.current = backfill_stmt;
			record_failure(&r, edata);
		}
	}

	if (result == RUN_OK && r.history_id != 0)
	{
		catalog_xact_begin(&user);
		catalog_history_finish(r.history_id, ctx->run_id, r.m, ctx->rollback,
							   ctx->rollback ? MIGRATION_ROLLED_BACK : MIGRATION_APPLIED,
							   r.nsteps, r.nsteps, r.retries, r.started_at, NULL);
		catalog_xact_commit(&user);
	}

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	ctx->slot->waits_for_snapshots = false;
	ctx->slot->lock_timeout = 0;
	ctx->slot->lock_wait_since = 0;
	ctx->slot->version[0] = '\0';
	LWLockRelease(MigrateState->lock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return result;
}

/* Whether a raw statement runs through ProcessUtility (not a query). */
static bool
is_utility(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_SelectStmt:
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
		case T_MergeStmt:
			return false;
		default:
			return true;
	}
}

/*
 * Runs a group of transactional statements in one transaction together with
 * its history write: the history row for a one-step migration, the
 * progress counter otherwise.
 */
static void
run_transactional_step(StepRun *r)
{
	CatalogUser user;
	int			i;
	int			rc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	set_lock_timeout(attempt_lock_timeout(r), GUC_ACTION_LOCAL);

	/*
	 * The step commits without waiting for its WAL flush, which is most of a
	 * short migration's time.  Nothing is told the run is over before a
	 * synchronous commit that flushes it (the run's end, a failure, the
	 * history row a multi-step migration writes before a top-level step),
	 * and losing the unflushed tail in a crash is crashing a moment earlier:
	 * the step and its history row go together and the run resumes.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	migrate_runner_active = true;
	for (i = r->step->first; i < r->step->first + r->step->count; i++)
	{
		ScriptStmt *s = list_nth(r->stmts, i);

		r->current = i;
		debug_query_string = s->text;
		pgstat_report_activity(STATE_RUNNING, s->text);
		guard_runner_begin(is_utility(s->stmt), r->allowed);
		rc = SPI_execute(s->text, false, 0);
		guard_runner_end();
		/* SPI refuses some statements without raising (COPY to the client) */
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot run in a migration (%s)", s->tag, SPI_result_code_string(rc)),
					 errhint("Register the migration without it.")));
	}
	migrate_runner_active = false;

	catalog_become_owner(&user);
	if (r->history_id == 0)
		catalog_history_finish(0, r->ctx->run_id, r->m, r->ctx->rollback,
							   r->ctx->rollback ? MIGRATION_ROLLED_BACK : MIGRATION_APPLIED,
							   1, 1, r->retries, r->started_at, NULL);
	else
		catalog_history_progress(r->history_id, r->stepno + 1, r->retries);
	catalog_restore_user(&user);

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Runs one statement that cannot run in a transaction block at top level,
 * then records the progress in a transaction of its own (never before it:
 * DROP INDEX CONCURRENTLY must be the first action of its transaction).
 */
static void
run_toplevel_step(StepRun *r)
{
	ScriptStmt *s = list_nth(r->stmts, r->step->first);
	CatalogUser user;

	r->current = r->step->first;
	if (IsA(s->stmt, IndexStmt))
		drop_invalid_index(r, s);

	if (!(r->resuming && toplevel_already_done(r, s)))
	{
		/*
		 * CONCURRENTLY statements take a lock that does not block reads or
		 * writes but wait for older transactions: a lock timeout would only
		 * make them fail for nothing.
		 */
		set_lock_timeout(s->waits_for_snapshots ? 0 : attempt_lock_timeout(r), GUC_ACTION_SET);
		publish(r, s->waits_for_snapshots);
		migrate_runner_active = true;
		debug_query_string = s->text;
		pgstat_report_activity(STATE_RUNNING, s->text);
		guard_runner_begin(true, r->allowed);
		exec_toplevel(r->sql, s->stmt, s->location, s->length);
		guard_runner_end();
		migrate_runner_active = false;
		publish(r, false);
	}

	catalog_xact_begin(&user);
	catalog_history_progress(r->history_id, r->stepno + 1, r->retries);
	catalog_xact_commit(&user);
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Runs one statement the way the server runs a client's top-level query:
 * through a portal with isTopLevel = true, in a transaction of its own, so
 * PreventInTransactionBlock() lets it through.  The parse tree and the
 * script live in the migration's context, which survives the internal
 * commits of CREATE INDEX CONCURRENTLY.
 */
static void
exec_toplevel(const char *sql, Node *stmt, int location, int length)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "migrate statement",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	RawStmt    *raw = makeNode(RawStmt);
	bool		snapshot = false;
	List	   *queries;
	List	   *plans;
	Portal		portal;
	DestReceiver *dest;
	QueryCompletion qc;

	raw->stmt = stmt;
	raw->stmt_location = location;
	raw->stmt_len = length;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	old = MemoryContextSwitchTo(cxt);
	if (analyze_requires_snapshot(raw))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot = true;
	}
	queries = pg_analyze_and_rewrite_fixedparams(raw, sql, NULL, 0, NULL);
	plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, NULL);
	if (snapshot)
		PopActiveSnapshot();

	portal = CreatePortal("", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, sql, CreateCommandTag(stmt), plans, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	dest = CreateDestReceiver(DestNone);
	MemoryContextSwitchTo(old);

	(void) migrate_portal_run(portal, dest, &qc);
	dest->rDestroy(dest);
	PortalDrop(portal, false);
	CommitTransactionCommand();
	MemoryContextDelete(cxt);
}

/*
 * On resuming a step that an earlier attempt started, a concurrent index
 * build or drop may have finished just before the crash: recognise it
 * instead of failing on "already exists" or "does not exist".
 */
static bool
toplevel_already_done(StepRun *r, ScriptStmt *s)
{
	MemoryContext outer = CurrentMemoryContext;
	bool		done = false;

	StartTransactionCommand();
	if (IsA(s->stmt, IndexStmt) && ((IndexStmt *) s->stmt)->idxname)
	{
		IndexStmt  *is = (IndexStmt *) s->stmt;
		Oid			relid = RangeVarGetRelid(is->relation, NoLock, true);
		Oid			indexid = OidIsValid(relid) ?
			get_relname_relid(is->idxname, get_rel_namespace(relid)) : InvalidOid;

		done = OidIsValid(indexid) && get_index_isvalid(indexid);
	}
	else if (IsA(s->stmt, DropStmt) && ((DropStmt *) s->stmt)->removeType == OBJECT_INDEX)
	{
		ListCell   *lc;

		done = true;
		foreach(lc, ((DropStmt *) s->stmt)->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));

			if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
				done = false;
		}
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return done;
}

/*
 * A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; drop it
 * (concurrently) so that the retry can build it again.
 */
static void
drop_invalid_index(StepRun *r, ScriptStmt *s)
{
	IndexStmt  *is = (IndexStmt *) s->stmt;
	MemoryContext outer = CurrentMemoryContext;
	char	   *drop = NULL;
	Oid			relid;
	Oid			nsp;
	Oid			indexid;

	if (!is->concurrent || is->idxname == NULL)
		return;

	StartTransactionCommand();
	relid = RangeVarGetRelid(is->relation, NoLock, true);
	nsp = OidIsValid(relid) ? get_rel_namespace(relid) : InvalidOid;
	indexid = OidIsValid(nsp) ? get_relname_relid(is->idxname, nsp) : InvalidOid;
	if (OidIsValid(indexid) && !get_index_isvalid(indexid))
		drop = MemoryContextStrdup(outer,
								   psprintf("DROP INDEX CONCURRENTLY %s",
											quote_qualified_identifier(get_namespace_name(nsp),
																	   is->idxname)));
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);

	if (drop)
	{
		List	   *raw = raw_parser(drop, RAW_PARSE_DEFAULT);

		ereport(LOG,
				(errmsg("migrate: dropping invalid index left by an earlier attempt: %s", drop)));
		set_lock_timeout(0, GUC_ACTION_SET);
		exec_toplevel(drop, linitial_node(RawStmt, raw)->stmt, 0, 0);
	}
}

static void
set_lock_timeout(int ms, GucAction action)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", ms);
	(void) set_config_option("lock_timeout", buf, PGC_USERSET, PGC_S_SESSION,
							 action, true, 0, false);
}

/* The lock timeout of the step's current attempt, by the run's schedule. */
static int
attempt_lock_timeout(StepRun *r)
{
	return retry_lock_timeout(&r->ctx->lock, r->attempt);
}

/*
 * Sleeps before the next attempt (retry.c: 200 ms doubling up to 10 s,
 * jittered, and never past the budget).  Returns false when the retries
 * or the step's lock wait budget are used up, or the caller asked to stop.
 */
static bool
backoff(StepRun *r)
{
	const LockSchedule *lock = &r->ctx->lock;
	int			timed_out = attempt_lock_timeout(r);
	long		waited = TimestampDifferenceMilliseconds(r->first_attempt_at, GetCurrentTimestamp());
	long		delay;
	TimestampTz until;

	if (r->ctx->slot->stop_requested)
		return false;
	if ((lock->retries >= 0 && r->attempt >= lock->retries) || waited >= lock->budget)
	{
		ereport(LOG,
				(errmsg("migrate: migration %s step %d gives up waiting for its lock after %d retries in %ld ms",
						r->m->version, r->stepno + 1, r->attempt, waited),
				 errdetail("The schedule was: %s.", retry_describe_schedule(lock))));
		return false;
	}
	delay = Min(retry_backoff_ms(r->attempt, 200.0, 10000.0), lock->budget - waited);
	if (r->attempt == 0)
		ereport(LOG,
				(errmsg("migrate: migration %s step %d waits for its lock: %s",
						r->m->version, r->stepno + 1, retry_describe_schedule(lock))));
	r->attempt++;
	r->retries++;
	ereport(LOG,
			(errmsg("migrate: migration %s step %d could not get its lock within %d ms, retry %d in %ld ms with lock_timeout %d ms (%ld ms of its %d ms lock wait budget spent)",
					r->m->version, r->stepno + 1, timed_out, r->attempt, delay,
					attempt_lock_timeout(r), waited, lock->budget)));
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	r->ctx->slot->retries = r->retries;
	LWLockRelease(MigrateState->lock);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* the whole delay: a latch set for something else must not cut it short */
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
	while (!r->ctx->slot->stop_requested &&
		   (delay = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until)) > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 delay, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return !r->ctx->slot->stop_requested;
}

/*
 * What migrate.live() shows of the step: which one, its lock timeout now,
 * and since when it has been waiting for its lock.
 */
static void
publish(StepRun *r, bool waits)
{
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	r->ctx->slot->step = r->stepno + 1;
	r->ctx->slot->waits_for_snapshots = waits;
	r->ctx->slot->lock_timeout = waits ? 0 : attempt_lock_timeout(r);
	r->ctx->slot->lock_wait_since = r->attempt > 0 ? r->first_attempt_at : 0;
	LWLockRelease(MigrateState->lock);
}

/* Writes the failed attempt, with where it failed, in a transaction of its own. */
static void
record_failure(StepRun *r, ErrorData *edata)
{
	MigrationError err;
	CatalogUser user;

	err.edata = edata;
	err.statement = 0;
	err.position = 0;
	err.sql = NULL;
	/* without a step, the refusal is of the whole script */
	if (r->step)
	{
		ScriptStmt *s = list_nth(r->stmts, r->current);

		err.statement = s->number;
		err.sql = s->text;
		while (isspace((unsigned char) *err.sql))
			err.sql++;
		/* SPI reports positions inside the statement; the portal inside the script */
		if (r->step->toplevel)
			err.position = edata->cursorpos;
		else
			err.position = edata->internalpos > 0 ?
				pg_mbstrlen_with_len(r->sql, s->location) + edata->internalpos : 0;
	}

	catalog_xact_begin(&user);
	catalog_history_finish(r->history_id, r->ctx->run_id, r->m, r->ctx->rollback, MIGRATION_FAILED,
						   r->stepno, r->nsteps, r->retries, r->started_at, &err);
	catalog_xact_commit(&user);
	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}
