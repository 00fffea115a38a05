/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL-callable functions of the migration runner.
 *
 * migrate_apply() and the rollbacks hand the run to a background worker
 * through a job slot and wait for it on their latch.  They never wait for
 * the worker inside a transaction the worker waits for: when the worker is
 * blocked by the caller (a CONCURRENTLY build waits for the caller's
 * snapshot) the call returns at once, reporting the migrations still
 * running; when the caller holds a lock a transactional step needs, the
 * step is cancelled and the call fails with advice.
 *
 * src/api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "migrate/retry.h"
#include "migrate/run_catalog.h"
#include "migrate/settings.h"
#include "migrate/compat.h"
#include "migrate/migrate.h"
#include "migrate/util.h"
#include "migrate/script.h"
#include "migrate/shared.h"
#include "migrate/worker.h"

PG_FUNCTION_INFO_V1(migrate_register);
PG_FUNCTION_INFO_V1(migrate_register_repeatable);
PG_FUNCTION_INFO_V1(migrate_apply);
PG_FUNCTION_INFO_V1(migrate_rollback);
PG_FUNCTION_INFO_V1(migrate_rollback_to);
PG_FUNCTION_INFO_V1(migrate_wait);
PG_FUNCTION_INFO_V1(migrate_plan);
PG_FUNCTION_INFO_V1(migrate_status);
PG_FUNCTION_INFO_V1(migrate_history);
PG_FUNCTION_INFO_V1(migrate_resolve);
PG_FUNCTION_INFO_V1(migrate_live);

static void start_run(FunctionCallInfo fcinfo, const char *fname, bool rollback,
					  const char *target, int steps, bool wait);
static int	claim_run_slot(const char *fname, uint32 *generation);
static bool wait_for_run(int index, uint32 generation, const char *fname);
static bool blocked_by_me(pid_t pid);
static void report_run(FunctionCallInfo fcinfo, int64 run_id, bool still_running,
					   ErrorData *failed);
static void report_plan(FunctionCallInfo fcinfo, List *plan);

/* what migrate_apply() says of a migration the worker has not started */
static const char *const queued_detail =
"queued for the migrate worker; follow it with migrate_status() or CALL migrate_wait()";

/* How many statements of a parsed script run at top level. */
static int
toplevel_count(List *stmts)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, stmts)
		if (((ScriptStmt *) lfirst(lc))->toplevel)
			n++;
	return n;
}

/*
 * migrate_register(version, name, up_sql, down_sql, transactional, source):
 * parses both scripts now, so syntax errors surface at registration, and
 * stores them.  Not SECURITY DEFINER: the migration belongs to the caller
 * (the current user, so a definer function registers as its owner), who
 * alone may change it.
 */
Datum
migrate_register(PG_FUNCTION_ARGS)
{
	char	   *version = text_arg(fcinfo, 0, "version");
	char	   *name = text_arg(fcinfo, 1, "name");
	char	   *up = text_arg(fcinfo, 2, "up_sql");
	char	   *down = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	bool		transactional = PG_NARGS() <= 4 || PG_ARGISNULL(4) || PG_GETARG_BOOL(4);
	char	   *source = PG_NARGS() <= 5 || PG_ARGISNULL(5) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(5));
	Datum		key;
	List	   *stmts;
	int			nontx = 0;
	CatalogUser user;
	int			nestlevel;
	char	   *result;

	(void) catalog_version_ok(ERROR);
	key = script_version_key(version);
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration name must not be empty"),
				 errhint("Name the migration after what it does, e.g. 'add_users_email_index'.")));
	script_check_size(up, "up_sql");
	if (down)
		script_check_size(down, "down_sql");

	stmts = script_parse(up, psprintf("up script of migration %s", version));
	nontx = toplevel_count(stmts);
	if (down)
		(void) script_parse(down, psprintf("down script of migration %s", version));

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	result = catalog_register(version, key, name, up, down, list_length(stmts), nontx,
							  transactional, source, user.userid);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * migrate_register_repeatable(name, sql, transactional, source): a
 * repeatable migration (Flyway's R__name.sql) is known by its name, runs
 * after the versioned ones whenever its script changed since it last ran,
 * and may be changed at any time by its owner.  The name takes the place
 * of a version in the status, the history and a run's slot: it cannot look
 * like one, and must fit where a version goes.
 */
Datum
migrate_register_repeatable(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	char	   *sql = text_arg(fcinfo, 1, "sql");
	bool		transactional = PG_ARGISNULL(2) || PG_GETARG_BOOL(2);
	char	   *source = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	List	   *stmts;
	int			nontx = 0;
	CatalogUser user;
	int			nestlevel;
	char	   *result;

	(void) catalog_version_ok(ERROR);
	if (name[0] == '\0' || strlen(name) >= MIGRATE_VERSION_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid repeatable migration name \"%s\"", name),
				 errdetail("A repeatable migration's name is 1 to %d bytes long.", MIGRATE_VERSION_LEN - 1),
				 errhint("Name it after what it maintains, e.g. 'views' for R__views.sql.")));
	if (strspn(name, "0123456789.") == strlen(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("repeatable migration name \"%s\" looks like a version", name),
				 errdetail("Its name stands where versioned migrations show their version."),
				 errhint("Give it a name with a letter in it, or register it as a versioned migration with migrate_register().")));
	script_check_size(sql, "sql");
	stmts = script_parse(sql, psprintf("script of repeatable migration %s", name));
	nontx = toplevel_count(stmts);

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	result = catalog_register_repeatable(name, sql, list_length(stmts), nontx,
										 transactional, source, user.userid);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

Datum
migrate_apply(PG_FUNCTION_ARGS)
{
	char	   *target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		wait = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	if (target)
		script_check_version(target, "target");
	start_run(fcinfo, "migrate_apply()", false, target, 0, wait);
	return (Datum) 0;
}

Datum
migrate_rollback(PG_FUNCTION_ARGS)
{
	int			steps;
	bool		wait = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("steps must not be null")));
	steps = PG_GETARG_INT32(0);
	if (steps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("steps must be at least 1, not %d", steps),
				 errhint("migrate_rollback(n) undoes the n most recently applied migrations.")));
	start_run(fcinfo, "migrate_rollback()", true, NULL, steps, wait);
	return (Datum) 0;
}

Datum
migrate_rollback_to(PG_FUNCTION_ARGS)
{
	char	   *target = text_arg(fcinfo, 0, "target");
	bool		wait = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	script_check_version(target, "target");
	start_run(fcinfo, "migrate_rollback_to()", true, target, 0, wait);
	return (Datum) 0;
}

/*
 * Plans the run here, so bad input fails before anything is queued, then
 * queues it for a worker and waits (or not) for the outcome.
 */
static void
start_run(FunctionCallInfo fcinfo, const char *fname, bool rollback,
		  const char *target, int steps, bool wait)
{
	List	   *plan;
	int			index;
	uint32		generation;
	MigrateSlot *slot;
	bool		finished;
	bool		failed;
	int64		run_id;
	char		message[MIGRATE_MESSAGE_LEN];
	char	   *search_path = pstrdup(GetConfigOption("search_path", false, false));
	int			nestlevel;
	CatalogUser user;
	ListCell   *lc;

	/* before 1.4 the run functions were SECURITY DEFINER: say what is wrong */
	(void) catalog_version_ok(ERROR);
	migrate_refuse_borrowed_rights(fname);

	/* the run carries it in its slot: cut short, it would name other schemas */
	if (strlen(search_path) >= MIGRATE_SEARCH_PATH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("search_path is too long for a migration run (%zu bytes)", strlen(search_path)),
				 errdetail("A run takes at most %d bytes of the caller's search_path.",
						   MIGRATE_SEARCH_PATH_LEN - 1),
				 errhint("SET search_path to the schemas the migrations need, then call %s again.", fname)));
	nestlevel = NewGUCNestLevel();

	/* from here on, names resolve safely */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	migrate_require_shmem();
	migrate_init_srf(fcinfo);

	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run in a transaction that has written to the database", fname),
				 errdetail("Migrations run in a background worker, which cannot see this transaction's uncommitted changes (a migration registered in it, for example) and would wait for the locks it holds."),
				 errhint("Commit first, then call %s in a transaction of its own.", fname)));

	catalog_become_owner(&user);
	plan = catalog_plan(rollback, target, steps, migrate_out_of_order);
	catalog_restore_user(&user);
	if (plan == NIL)
	{
		AtEOXact_GUC(true, nestlevel);
		return;
	}
	/* each migration runs as its owner: one that cannot run fails now */
	foreach(lc, plan)
	{
		MigrationDef *m = lfirst(lc);

		migrate_worker_check_role(m->owner, psprintf("migration %s", m->version));
	}

	index = claim_run_slot(fname, &generation);
	slot = &MigrateState->slots[index];
	slot->rollback = rollback;
	slot->steps = steps;
	slot->has_target = target != NULL;
	if (target)
		strlcpy(slot->target, target, MIGRATE_VERSION_LEN);
	slot->role = ((MigrationDef *) linitial(plan))->owner;
	slot->requested_by = GetUserId();
	retry_schedule_from_settings(&slot->lock_schedule);
	slot->out_of_order = migrate_out_of_order;
	strlcpy(slot->search_path, search_path, MIGRATE_SEARCH_PATH_LEN);

	/*
	 * A caller that does not wait leaves the slot to the worker before the
	 * launcher can see it: a worker that finished a short run before we let
	 * go would leave it FINISHED for a caller that never collects it, and
	 * the database's next run and migrate_wait() would wait for it forever.
	 */
	if (!wait)
	{
		slot->caller_pid = 0;
		slot->caller_latch = NULL;
	}
	/* the slot is ours until the launcher sees it queued */
	LWLockRelease(MigrateState->lock);
	migrate_wake_launcher();

	if (!wait)
	{
		report_plan(fcinfo, plan);
		AtEOXact_GUC(true, nestlevel);
		return;
	}

	finished = wait_for_run(index, generation, fname);

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	run_id = slot->job_id;
	failed = slot->failed;
	strlcpy(message, slot->message, sizeof(message));
	if (finished)
		slot->state = MIGRATE_SLOT_FREE;
	LWLockRelease(MigrateState->lock);

	if (finished && failed && message[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration run failed: %s", message),
				 errhint("migrate_status() shows the state of every migration; the server log has the worker's messages.")));
	if (run_id == 0)
		report_plan(fcinfo, plan);
	else
	{
		ErrorData	failed = {0};

		report_run(fcinfo, run_id, !finished, &failed);
		/* psql -v ON_ERROR_STOP=1 -c 'SELECT * FROM migrate_apply()' must fail */
		if (failed.message)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s", failed.message),
					 failed.detail ? errdetail_internal("%s", failed.detail) : 0,
					 errhint("%s%smigrate_status() shows the state of every migration; fix the cause and call %s again (it resumes at the failed step).",
							 failed.hint ? failed.hint : "", failed.hint ? " " : "",
							 fname)));
	}
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Takes the database's run slot, waiting up to migrate.run_wait_timeout for
 * a run in progress to end.  Returns with MigrateState->lock held.
 */
static int
claim_run_slot(const char *fname, uint32 *generation)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   migrate_run_wait_timeout);

	for (;;)
	{
		int			busy;

		LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
		busy = migrate_active_run_slot(MyDatabaseId);
		if (busy < 0)
		{
			int			index = migrate_slot_alloc(MIGRATE_JOB_RUN, MyDatabaseId);
			MigrateSlot *slot;

			if (index < 0)
			{
				LWLockRelease(MigrateState->lock);
				ereport(ERROR,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("all %d migrate job slots are in use", MIGRATE_MAX_SLOTS),
						 errhint("Wait for running backfills to finish, or cancel some.")));
			}
			slot = &MigrateState->slots[index];
			slot->caller_pid = MyProcPid;
			slot->caller_latch = MyLatch;
			*generation = slot->generation;
			return index;
		}
		else
		{
			MigrateSlot *other = &MigrateState->slots[busy];
			int64		other_run = other->job_id;
			char		other_version[MIGRATE_VERSION_LEN];
			pid_t		other_pid = other->waits_for_snapshots ? other->worker_pid : 0;

			strlcpy(other_version, other->version, MIGRATE_VERSION_LEN);
			LWLockRelease(MigrateState->lock);

			/*
			 * Waiting here holds this statement's snapshot, which the other
			 * run's CONCURRENTLY statement waits for: it could not finish
			 * before our timeout.  Step aside at once.
			 */
			if (other_pid != 0 && blocked_by_me(other_pid))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("another migration run is in progress in this database and waits for this transaction"),
						 errdetail("Run " INT64_FORMAT " is at migration %s, whose CONCURRENTLY statement waits for every older snapshot, this one included.",
								   other_run, other_version),
						 errhint("Wait outside a transaction (CALL migrate_wait() on its own), then call %s again.",
								 fname)));
			if (GetCurrentTimestamp() >= deadline)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("another migration run is in progress in this database"),
						 other_run != 0 ?
						 errdetail("Run " INT64_FORMAT " is at migration %s.", other_run,
								   other_version[0] ? other_version : "(between migrations)") :
						 errdetail("A run is starting."),
						 errhint("Wait for it to finish (CALL migrate_wait()), then call %s again; migrate_status() shows its progress.",
								 fname)));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Waits for the worker to finish the run.  Returns false when it returns
 * early because the worker waits for this very transaction's snapshot; the
 * slot is then left to the worker.  If the call is cancelled the run goes on
 * in the background.
 */
static bool
wait_for_run(int index, uint32 generation, const char *fname)
{
	MigrateSlot *slot = &MigrateState->slots[index];
	volatile bool finished = false;
	volatile int round = 0;
	volatile int orphaned = 0;

	PG_TRY();
	{
		for (;;)
		{
			MigrateSlotState state;
			pid_t		pid;
			bool		waits;
			bool		retrying;
			long		poll = 100;
			bool		launcher;
			char		version[MIGRATE_VERSION_LEN];

			LWLockAcquire(MigrateState->lock, LW_SHARED);
			state = slot->state;
			pid = slot->worker_pid;
			waits = slot->waits_for_snapshots;
			retrying = slot->lock_wait_since != 0;
			/*
			 * A step retrying for its lock waits in the lock queue for one
			 * short lock timeout at a time: look often enough to see it there.
			 */
			if (retrying)
				poll = Max(5, Min(poll, slot->lock_timeout / 4));
			strlcpy(version, slot->version, MIGRATE_VERSION_LEN);
			launcher = MigrateState->launcher_pid != 0;
			LWLockRelease(MigrateState->lock);

			/* the launcher restarts within seconds; beyond that, say so */
			if (state == MIGRATE_SLOT_QUEUED && !launcher && ++orphaned > 100)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the migrate launcher is not running"),
						 errdetail("The run is queued; it starts when the launcher is back."),
						 errhint("Check the server log for why the \"migrate launcher\" background worker is not running, and that max_worker_processes leaves room for it.")));

			if (state == MIGRATE_SLOT_FINISHED)
			{
				finished = true;
				break;
			}
			if (state == MIGRATE_SLOT_RUNNING && pid != 0 &&
				(waits || retrying || ++round % 5 == 0) && blocked_by_me(pid))
			{
				if (waits)
					break;		/* it finishes after we commit */

				/*
				 * A transactional step waits for a lock this transaction holds:
				 * stop the step (it rolls back) rather than hang.
				 */
				LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
				slot->stop_requested = true;
				LWLockRelease(MigrateState->lock);
				kill(pid, SIGINT);
				for (;;)
				{
					bool		done;

					LWLockAcquire(MigrateState->lock, LW_SHARED);
					done = slot->state == MIGRATE_SLOT_FINISHED;
					LWLockRelease(MigrateState->lock);
					if (done)
						break;
					(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 50L, PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
				}
				LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
				slot->state = MIGRATE_SLOT_FREE;
				LWLockRelease(MigrateState->lock);
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("migration %s needs a lock that this transaction holds", version),
						 errdetail("The migration was stopped and rolled back; migrations before it were applied."),
						 errhint("Call %s in a transaction of its own, not after other statements in an explicit transaction block.",
								 fname)));
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 poll, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		/* leave the run to the worker; it frees the slot when done */
		LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
		if (slot->generation == generation)
		{
			if (slot->state == MIGRATE_SLOT_FINISHED)
				slot->state = MIGRATE_SLOT_FREE;
			slot->caller_pid = 0;
			slot->caller_latch = NULL;
		}
		LWLockRelease(MigrateState->lock);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (!finished)
	{
		LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
		if (slot->state == MIGRATE_SLOT_FINISHED)
			finished = true;
		else
		{
			slot->caller_pid = 0;
			slot->caller_latch = NULL;
		}
		LWLockRelease(MigrateState->lock);
	}
	return finished;
}

/* Is the worker waiting for a lock (a snapshot's vxid included) we hold? */
static bool
blocked_by_me(pid_t pid)
{
	ArrayType  *arr = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pid)));
	Datum	   *elems;
	int			n;
	int			i;

	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, NULL, &n);
	for (i = 0; i < n; i++)
		if (DatumGetInt32(elems[i]) == MyProcPid)
			return true;
	return false;
}

/*
 * The outcome of each planned migration of a run, read with a fresh
 * snapshot: the worker committed it after this statement started.  Fills
 * failed's message (naming the first failed migration, if any), detail and
 * hint (the failing statement's own) for the caller to raise: a run that
 * failed must not end the call successfully.  The caller asked for the run,
 * so it may see the detail (migrate.status_rows).
 */
static void
report_run(FunctionCallInfo fcinfo, int64 run_id, bool still_running, ErrorData *failed)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RunState	run_state;
	List	   *outcomes;
	ListCell   *lc;
	char	   *current = NULL; /* the migration the worker is on */
	CatalogUser user;

	catalog_become_owner(&user);
	outcomes = catalog_run_outcome(run_id, &run_state);
	catalog_restore_user(&user);

	foreach(lc, outcomes)
	{
		RunOutcome *o = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, !o->has_duration, false};
		MigrationState state = o->recorded ? o->state : MIGRATION_PENDING;
		const char *detail = o->detail;

		values[0] = CStringGetTextDatum(o->version);
		values[1] = CStringGetTextDatum(o->name);
		values[3] = Float8GetDatum(o->duration_ms);
		if (!o->recorded || state == MIGRATION_RUNNING)
		{
			if (still_running && o->recorded)
			{
				current = o->version;
				detail = "the worker is finishing it: CONCURRENTLY waits for transactions older than it, "
					"this one included; follow it with migrate_status() or CALL migrate_wait()";
			}
			else if (still_running)
			{
				/* the same state as in the plan that wait => false returns */
				state = MIGRATION_RUNNING;
				detail = current == NULL ? queued_detail :
					psprintf("queued behind migration %s in the worker; follow it with "
							 "migrate_status() or CALL migrate_wait()", current);
			}
			else if (!o->recorded)
				detail = run_state == RUN_STATE_INTERRUPTED ?
					"not run: the run was stopped" : "not run: an earlier migration failed";
		}
		if (failed->message == NULL && state == MIGRATION_FAILED)
		{
			failed->message = psprintf("migration %s failed: %s", o->version,
									   detail ? detail : "see migrate_status()");
			failed->detail = o->error_detail;
			failed->hint = o->error_hint;
		}
		values[2] = CStringGetTextDatum(migration_state_name(state));
		values[4] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
		nulls[4] = detail == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* The plan itself, every migration queued: for wait => false. */
static void
report_plan(FunctionCallInfo fcinfo, List *plan)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	foreach(lc, plan)
	{
		MigrationDef *m = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, true, false};

		values[0] = CStringGetTextDatum(m->version);
		values[1] = CStringGetTextDatum(m->name);
		values[2] = CStringGetTextDatum("running");
		values[4] = CStringGetTextDatum(queued_detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * CALL migrate_wait(timeout): waits until no run is active in this
 * database.  A procedure, so that called outside a transaction block it
 * commits while waiting and holds no snapshot that a worker's CREATE INDEX
 * CONCURRENTLY would have to wait for.  Fails if a migration ended failed.
 */
Datum
migrate_wait(PG_FUNCTION_ARGS)
{
	bool		nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	TimestampTz deadline = 0;

	migrate_require_shmem();
	if (!PG_ARGISNULL(0))
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   PG_GETARG_DATUM(0)));

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	for (;;)
	{
		pid_t		pid = 0;
		int			index;

		if (nonatomic)
			SPI_commit();

		LWLockAcquire(MigrateState->lock, LW_SHARED);
		index = migrate_active_run_slot(MyDatabaseId);
		if (index >= 0)
			pid = MigrateState->slots[index].worker_pid;
		LWLockRelease(MigrateState->lock);
		if (index < 0)
			break;

		if (!nonatomic && pid != 0 && blocked_by_me(pid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the migrate worker is waiting for this transaction"),
					 errdetail("A CONCURRENTLY statement waits for every older transaction, so waiting for it here would never end."),
					 errhint("Use CALL migrate_wait() on its own, outside BEGIN ... COMMIT.")));
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for the migration run to finish"),
					 errhint("The run goes on in the background; migrate_status() shows its progress.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	if (SPI_execute("SELECT version, error FROM pg_catalog.migrate_status() WHERE state = 'failed'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read migrate_status()");
	if (SPI_processed > 0)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s failed: %s", version, error ? error : "see migrate_status()"),
				 errhint("Fix the cause and call migrate_apply() again (it resumes at the failed step), or after a manual fix mark it with migrate_resolve().")));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * migrate_status() and migrate_history(): read as the extension owner and
 * told who asks, so that an error's detail, hint and statement reach only
 * those who may see them (run_catalog.c).
 */
Datum
migrate_status(PG_FUNCTION_ARGS)
{
	(void) catalog_version_ok(ERROR);
	catalog_status_rows(fcinfo);
	return (Datum) 0;
}

Datum
migrate_history(PG_FUNCTION_ARGS)
{
	(void) catalog_version_ok(ERROR);
	catalog_history_rows(fcinfo, PG_GETARG_DATUM(0), PG_ARGISNULL(0));
	return (Datum) 0;
}

/*
 * migrate_plan(target): what migrate_apply(target) would run, step by
 * step, without running it.  Steps a failed attempt already finished are
 * left out, as apply would skip them.  A script can hold secrets (CREATE
 * ROLE ... PASSWORD): its text is shown only to its owner, members of it
 * and superusers, so the function is not SECURITY DEFINER and knows its
 * caller.
 */
Datum
migrate_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *plan;
	ListCell   *lc;
	CatalogUser user;
	int			nestlevel;

	migrate_init_srf(fcinfo);
	if (target)
		script_check_version(target, "target");
	(void) catalog_version_ok(ERROR);
	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	plan = catalog_plan(false, target, 0, migrate_out_of_order);

	foreach(lc, plan)
	{
		MigrationDef *m = catalog_migration(((MigrationDef *) lfirst(lc))->version);
		List	   *stmts = script_parse(m->up_sql, psprintf("up script of migration %s", m->version));
		List	   *steps = script_steps(stmts, m->transactional);
		char	   *owner = GetUserNameFromId(m->owner, true);
		bool		visible = has_privs_of_role(user.userid, m->owner);
		LatestState latest;
		int			first = 0;
		int			k;

		catalog_latest(m->version, &latest);
		if (latest.exists && latest.action == HISTORY_APPLY &&
			latest.state != MIGRATION_APPLIED &&
			latest.checksum && strcmp(latest.checksum, m->checksum) == 0)
			first = latest.steps_done;

		for (k = first; k < list_length(steps); k++)
		{
			ScriptStep *st = list_nth(steps, k);
			StringInfoData sql;
			Datum		values[8];
			bool		nulls[8] = {false, false, false, false, false, false, false, false};
			int			i;

			initStringInfo(&sql);
			for (i = st->first; i < st->first + st->count; i++)
			{
				ScriptStmt *s = list_nth(stmts, i);
				char	   *text = s->text;

				while (isspace((unsigned char) *text))
					text++;
				appendStringInfo(&sql, "%s%s;", i > st->first ? "\n" : "", text);
			}
			values[0] = CStringGetTextDatum(m->version);
			values[1] = CStringGetTextDatum(m->name);
			values[2] = Int32GetDatum(k + 1);
			values[3] = CStringGetTextDatum(st->toplevel ? "top-level" : "transaction");
			values[4] = Int32GetDatum(st->count);
			values[5] = CStringGetTextDatum(sql.data);
			nulls[5] = !visible;
			values[6] = owner ? DirectFunctionCall1(namein, CStringGetDatum(owner)) : (Datum) 0;
			nulls[6] = owner == NULL;
			values[7] = BoolGetDatum(m->transactional);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	return (Datum) 0;
}

/*
 * migrate_resolve(version, state): settle a failed migration after a manual
 * fix.  Only its owner (or a member, or a superuser) may: not SECURITY
 * DEFINER, so the caller is known.
 */
Datum
migrate_resolve(PG_FUNCTION_ARGS)
{
	char	   *version = text_arg(fcinfo, 0, "version");
	char	   *state = text_arg(fcinfo, 1, "state");
	CatalogUser user;
	int			nestlevel;
	char	   *note;

	if (strcmp(state, "applied") != 0 && strcmp(state, "rolled_back") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state \"%s\"", state),
				 errhint("Mark the migration 'applied' (you finished it by hand) or 'rolled_back' (you undid it).")));
	(void) catalog_version_ok(ERROR);
	migrate_require_no_run("resolve a migration", "resolve");
	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	note = catalog_resolve(version, state, user.userid);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(note));
}

/* migrate.live(): what the workers of this database are doing right now. */
Datum
migrate_live(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	migrate_init_srf(fcinfo);
	if (MigrateState == NULL)
		return (Datum) 0;

	LWLockAcquire(MigrateState->lock, LW_SHARED);
	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];
		Datum		values[10];
		bool		nulls[10] = {false, false, false, false, false, false, false, false, false, false};
		static const char *const kinds[] = {"none", "run", "scan", "backfill"};

		if (slot->state == MIGRATE_SLOT_FREE || slot->state == MIGRATE_SLOT_FINISHED ||
			slot->dboid != MyDatabaseId)
			continue;
		values[0] = Int32GetDatum(slot->worker_pid);
		nulls[0] = slot->worker_pid == 0;
		values[1] = CStringGetTextDatum(kinds[slot->kind]);
		values[2] = Int64GetDatum(slot->job_id);
		values[3] = CStringGetTextDatum(slot->version);
		nulls[3] = slot->version[0] == '\0';
		values[4] = Int32GetDatum(slot->step);
		values[5] = Int32GetDatum(slot->steps_total);
		values[6] = Int32GetDatum(slot->retries);
		values[7] = BoolGetDatum(slot->waits_for_snapshots);
		values[8] = Int32GetDatum(slot->lock_timeout);
		nulls[8] = slot->kind != MIGRATE_JOB_RUN || slot->lock_timeout == 0;
		values[9] = TimestampTzGetDatum(slot->lock_wait_since);
		nulls[9] = slot->kind != MIGRATE_JOB_RUN || slot->lock_wait_since == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(MigrateState->lock);
	return (Datum) 0;
}
