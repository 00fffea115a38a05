/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The dynamic background worker: attaches to its slot, connects to the
 *	  slot's database as the slot's role and runs the job.
 *
 * A worker logs in as the role its job runs as and never changes it: a
 * migration's owner (the role that registered it), a backfill's submitter.
 * So RESET ROLE, SET SESSION AUTHORIZATION and the like inside a script
 * reach nothing beyond that role, whoever asked for the run.  When the next
 * migration of a run belongs to another role, the worker hands the run over
 * (the slot goes back to the launcher, a worker logged in as that role
 * resumes it).  The caller's search_path is used for the scripts; the
 * worker's own catalog queries switch to the extension owner and pg_catalog
 * (catalog_become_owner), never around user code.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/discard.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "migrate/backfill.h"
#include "migrate/compat.h"
#include "migrate/run_catalog.h"
#include "migrate/runner.h"
#include "migrate/shared.h"
#include "migrate/worker.h"

/* crashes of the worker on one migration after which recovery fails it */
#define MIGRATE_MAX_CRASHES 3

static MigrateSlot *MySlot = NULL;

static void worker_detach(int code, Datum arg);
static void run_job(bool handed_over);
static void scan_job(void);

void
migrate_worker_main(Datum main_arg)
{
	int			index = DatumGetInt32(main_arg);
	uint32		generation;
	MigrateSlot *slot = &MigrateState->slots[index];
	MigrateJobKind kind;
	Oid			dboid;
	Oid			role;
	bool		handed_over;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(uint32));
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	if (slot->generation != generation || slot->state != MIGRATE_SLOT_STARTING)
	{
		LWLockRelease(MigrateState->lock);
		proc_exit(0);			/* the slot was given up while we started */
	}
	slot->state = MIGRATE_SLOT_RUNNING;
	slot->worker_pid = MyProcPid;
	kind = slot->kind;
	dboid = slot->dboid;
	role = slot->role;
	handed_over = slot->handoff;
	slot->handoff = false;
	LWLockRelease(MigrateState->lock);
	MySlot = slot;
	before_shmem_exit(worker_detach, (Datum) 0);

	/*
	 * A scan reads our tables in any database: it runs as the bootstrap
	 * superuser and runs no user code.  Every other job logs in as the role
	 * it runs as (migrate_worker_check_role refused what cannot log in).
	 */
	if (kind == MIGRATE_JOB_SCAN)
		BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	else if (!OidIsValid(role))
		elog(ERROR, "migrate job of kind %d has no role to run as", (int) kind);
	else
		BackgroundWorkerInitializeConnectionByOid(dboid, role, MIGRATE_BGW_LOGIN_FLAGS);

	switch (kind)
	{
		case MIGRATE_JOB_RUN:
			pgstat_report_appname("migrate run");
			run_job(handed_over);
			break;
		case MIGRATE_JOB_SCAN:
			pgstat_report_appname("migrate recovery");
			scan_job();
			break;
		case MIGRATE_JOB_BACKFILL:
			pgstat_report_appname("migrate backfill");
			backfill_run_job(MySlot);
			break;
		default:
			elog(ERROR, "unexpected migrate job kind %d", (int) kind);
	}
	proc_exit(0);
}

/*
 * Refuses a run or a backfill asked for by code that runs with rights it
 * borrowed: inside a security-restricted operation (an index expression
 * that autovacuum or a superuser's ANALYZE evaluates) or a local user-id
 * change (a SECURITY DEFINER function).  The job would be recorded for, and
 * run with the rights of, a role that never asked for it.
 */
void
migrate_refuse_borrowed_rights(const char *fname)
{
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot call %s within a security-restricted operation", fname),
				 errdetail("Index expressions, and code that VACUUM, ANALYZE or REFRESH MATERIALIZED VIEW run, run with rights that are not the caller's own."),
				 errhint("Call %s directly, in a session of the role that is to run it.", fname)));
	if (InLocalUserIdChange())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot call %s from a SECURITY DEFINER function", fname),
				 errdetail("The function runs with its owner's rights, not with those of the session that called it."),
				 errhint("Call %s directly, in a session of the role that is to run it.", fname)));
}

/*
 * Refuses, before anything is queued, a role a worker could not log in as:
 * one that no longer exists, or (before PostgreSQL 17, which lets a
 * background worker log in as a NOLOGIN role) one without LOGIN.  "what"
 * names the job, e.g. "migration 3".
 */
void
migrate_worker_check_role(Oid role, const char *what)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s belongs to a role that no longer exists", what),
				 errdetail("A migration runs as the role that registered it."),
				 errhint("Register it again as the role it is to run as (a superuser may).")));
#if PG_VERSION_NUM < 170000
	if (!((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin)
	{
		char	   *name = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname));

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("%s would run as role \"%s\", which cannot log in", what, name),
				 errdetail("The migrate worker logs in as the role it runs as, so that nothing the job runs can reach another role's rights; before PostgreSQL 17 a background worker cannot log in as a NOLOGIN role."),
				 errhint("Give the role LOGIN (ALTER ROLE %s LOGIN; it needs no password), or register as a role that can log in.",
						 quote_identifier(name))));
	}
#endif
	ReleaseSysCache(tup);
}

/*
 * Leaves the slot on any exit, an error or a terminate included: the
 * outcome goes to a waiting caller, or the slot is freed.  A run handed
 * over to another role goes back to the launcher, its caller still waiting.
 */
static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	if (code == 0 && MySlot->handoff)
	{
		/* the next worker reads and clears handoff */
		MySlot->worker_pid = 0;
		MySlot->waits_for_snapshots = false;
		MySlot->state = MIGRATE_SLOT_QUEUED;
		if (MigrateState->launcher_latch)
			SetLatch(MigrateState->launcher_latch);
		LWLockRelease(MigrateState->lock);
		return;
	}
	if (code != 0 && !MySlot->failed)
	{
		MySlot->failed = true;
		if (MySlot->message[0] == '\0')
			strlcpy(MySlot->message, "the migrate worker exited with an error; see the server log",
					MIGRATE_MESSAGE_LEN);
	}
	MySlot->worker_pid = 0;
	MySlot->waits_for_snapshots = false;
	MySlot->state = MySlot->caller_pid ? MIGRATE_SLOT_FINISHED : MIGRATE_SLOT_FREE;
	migrate_slot_wake_caller(MySlot);
	if (MigrateState->launcher_latch)
		SetLatch(MigrateState->launcher_latch);
	LWLockRelease(MigrateState->lock);
}

/* Tells a waiting caller something changed (the run id, a new step). */
static void
notify_caller(void)
{
	LWLockAcquire(MigrateState->lock, LW_SHARED);
	migrate_slot_wake_caller(MySlot);
	LWLockRelease(MigrateState->lock);
}

/*
 * Starts every migration from the run's own session: what the previous one
 * SET, PREPAREd, LISTENed to or locked for the session (DISCARD ALL), its
 * SET ROLE included, goes; the run's search_path comes back.
 */
static void
reset_session(const char *search_path)
{
	DiscardStmt discard = {.type = T_DiscardStmt,.target = DISCARD_ALL};

	StartTransactionCommand();
	DiscardCommand(&discard, true);
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	CommitTransactionCommand();
}

/*
 * Applies or rolls back the migrations of one run, each as its owner: this
 * worker runs those of the role it is logged in as and hands the run over
 * at the first migration of another role.  A new run plans and records
 * itself first, with the checksum of every script it planned; a run handed
 * over or interrupted (job_id set) reads its plan back.
 */
static void
run_job(bool handed_over)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "migrate run",
											  ALLOCSET_DEFAULT_SIZES);
	RunContext ctx;
	CatalogUser user;
	List	   *plan;
	ListCell   *lc;
	RunState	state = RUN_STATE_DONE;
	char	   *search_path;

	memset(&ctx, 0, sizeof(ctx));
	ctx.slot = MySlot;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);

	if (MySlot->job_id == 0)
	{
		search_path = MySlot->search_path;
		catalog_become_owner(&user);
		plan = catalog_plan(MySlot->rollback, MySlot->has_target ? MySlot->target : NULL,
							MySlot->steps, MySlot->out_of_order);
		ctx.run_id = catalog_run_create(MySlot->rollback,
										MySlot->has_target ? MySlot->target : NULL,
										MySlot->steps, plan,
										GetUserNameFromId(MySlot->requested_by, false),
										search_path, &MySlot->lock_schedule);
		catalog_restore_user(&user);
		ctx.rollback = MySlot->rollback;
		ctx.lock = MySlot->lock_schedule;
	}
	else
	{
		RunInfo    *run;

		catalog_become_owner(&user);
		run = catalog_run_get(MySlot->job_id);
		catalog_restore_user(&user);
		ctx.run_id = run->id;
		ctx.rollback = run->rollback;
		ctx.lock = run->lock;
		plan = run->plan;
		search_path = run->search_path;
		if (handed_over)
			ereport(LOG,
					(errmsg("migrate: run " INT64_FORMAT " goes on as role \"%s\"",
							run->id, GetUserNameFromId(GetSessionUserId(), false))));
		else
			ereport(LOG,
					(errmsg("migrate: resuming interrupted run " INT64_FORMAT, run->id)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MySlot->job_id = ctx.run_id;
	LWLockRelease(MigrateState->lock);
	notify_caller();

	foreach(lc, plan)
	{
		MigrationDef *planned = lfirst(lc);
		RunResult	res;

		if (MySlot->stop_requested)
		{
			state = RUN_STATE_INTERRUPTED;
			break;
		}
		reset_session(search_path);
		MemoryContextSwitchTo(cxt);
		res = runner_run_migration(&ctx, planned);
		MemoryContextSwitchTo(cxt);
		if (res == RUN_HANDOFF)
		{
			LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
			MySlot->role = ctx.next_owner;
			MySlot->handoff = true;
			LWLockRelease(MigrateState->lock);
			return;				/* worker_detach queues the slot again */
		}
		if (res == RUN_FAILED)
		{
			state = RUN_STATE_FAILED;
			break;
		}
		if (res == RUN_STOPPED)
		{
			state = RUN_STATE_INTERRUPTED;
			break;
		}
		notify_caller();
	}

	catalog_xact_begin(&user);
	catalog_run_finish(ctx.run_id, state);
	catalog_xact_commit(&user);

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MySlot->failed = state != RUN_STATE_DONE;
	LWLockRelease(MigrateState->lock);
}

/*
 * After a restart: if migrate is installed in this database, queue the run
 * and the backfills that were interrupted.  The run resumes as the owner of
 * the migration it was on, unless the worker crashed on that migration
 * MIGRATE_MAX_CRASHES times: then it is failed instead of being resumed
 * into the same crash forever.
 */
static void
scan_job(void)
{
	InterruptedRun *run = NULL;
	CatalogUser user;
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(get_extension_oid("migrate", true));
	if (installed)
	{
		catalog_become_owner(&user);
		run = catalog_interrupted_run(MIGRATE_MAX_CRASHES);
		catalog_restore_user(&user);
	}

	/* the catalog work is done: the lock is only taken to fill the slot */
	if (run && run->resume)
	{
		int			i;

		LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
		if (migrate_active_run_slot(MyDatabaseId) < 0 &&
			(i = migrate_slot_alloc(MIGRATE_JOB_RUN, MyDatabaseId)) >= 0)
		{
			MigrateState->slots[i].job_id = run->id;
			MigrateState->slots[i].role = run->owner;
		}
		LWLockRelease(MigrateState->lock);
	}

	/* backfills that were queued or running go on where they stopped */
	if (installed)
		backfill_recover();

	PopActiveSnapshot();
	CommitTransactionCommand();
	migrate_wake_launcher();
}
