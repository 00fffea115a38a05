/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The dynamic background worker: attaches to its slot, connects to the
 *	  slot's database as the slot's role and runs the job.
 *
 * A run connects as the caller's session user and SET ROLEs to the role
 * that called migrate_apply(), so migrations create objects owned by, and
 * with the privileges of, exactly that role.  The caller's search_path is
 * used for the scripts; the worker's own catalog queries switch to the
 * extension owner and pg_catalog (catalog_become_owner).
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
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

#include "backfill.h"
#include "catalog.h"
#include "executor.h"
#include "shmem.h"
#include "worker.h"

static MigrateSlot *MySlot = NULL;

static void worker_detach(int code, Datum arg);
static void run_job(void);
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
	role = slot->session_role;
	LWLockRelease(MigrateState->lock);
	MySlot = slot;
	before_shmem_exit(worker_detach, (Datum) 0);

	/* a scan reads our tables in any database: it runs as the bootstrap superuser */
	BackgroundWorkerInitializeConnectionByOid(dboid, kind == MIGRATE_JOB_SCAN ? InvalidOid : role, 0);

	switch (kind)
	{
		case MIGRATE_JOB_RUN:
			pgstat_report_appname("migrate run");
			run_job();
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
 * In a worker's PG_CATCH: keeps the error in cxt and rolls back, so the job
 * can record the failure or retry instead of exiting.
 */
ErrorData *
migrate_worker_take_error(MemoryContext cxt)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	RESUME_INTERRUPTS();
	return edata;
}

/*
 * Leaves the slot on any exit, an error or a terminate included: the
 * outcome goes to a waiting caller, or the slot is freed.
 */
static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
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
 * Applies or rolls back the migrations of one run.  A new run plans and
 * records itself first; a resumed one (job_id set) reads its plan back.
 */
static void
run_job(void)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "migrate run",
											  ALLOCSET_DEFAULT_SIZES);
	ExecContext ctx;
	CatalogUser user;
	List	   *versions;
	ListCell   *lc;
	const char *state = "done";
	char	   *session_role;
	char	   *run_as;
	char	   *search_path;

	memset(&ctx, 0, sizeof(ctx));
	ctx.slot = MySlot;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);

	if (MySlot->job_id == 0)
	{
		session_role = GetUserNameFromId(MySlot->session_role, false);
		run_as = GetUserNameFromId(MySlot->run_role, false);
		search_path = MySlot->search_path;
		catalog_become_owner(&user);
		versions = catalog_plan(MySlot->rollback, MySlot->has_target ? MySlot->target : NULL,
								MySlot->steps, MySlot->out_of_order);
		versions = list_copy(versions);
		foreach(lc, versions)
			lfirst(lc) = ((MigrationDef *) lfirst(lc))->version;
		ctx.run_id = catalog_run_create(MySlot->rollback,
										MySlot->has_target ? MySlot->target : NULL,
										MySlot->steps, versions, session_role, run_as,
										search_path, MySlot->lock_timeout, MySlot->lock_retries);
		catalog_restore_user(&user);
		ctx.rollback = MySlot->rollback;
		ctx.lock_timeout = MySlot->lock_timeout;
		ctx.lock_retries = MySlot->lock_retries;
	}
	else
	{
		RunInfo    *run;

		catalog_become_owner(&user);
		run = catalog_run_get(MySlot->job_id);
		catalog_restore_user(&user);
		ctx.run_id = run->id;
		ctx.rollback = run->rollback;
		ctx.lock_timeout = run->lock_timeout;
		ctx.lock_retries = run->lock_retries;
		versions = run->versions;
		run_as = run->run_as;
		search_path = run->search_path;
		ereport(LOG,
				(errmsg("migrate: resuming interrupted run " INT64_FORMAT, run->id)));
	}

	/* Become the calling role, with the caller's search_path, for good. */
	if (strcmp(run_as, GetUserNameFromId(GetSessionUserId(), false)) != 0)
		(void) set_config_option("role", run_as, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SET, true, 0, false);
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MySlot->job_id = ctx.run_id;
	LWLockRelease(MigrateState->lock);
	notify_caller();

	foreach(lc, versions)
	{
		ExecResult	res;

		if (MySlot->stop_requested)
		{
			state = "interrupted";
			break;
		}
		res = executor_run_migration(&ctx, lfirst(lc));
		MemoryContextSwitchTo(cxt);
		if (res == EXEC_FAILED)
		{
			state = "failed";
			break;
		}
		if (res == EXEC_STOPPED)
		{
			state = "interrupted";
			break;
		}
		notify_caller();
	}

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog_become_owner(&user);
	catalog_run_finish(ctx.run_id, state);
	catalog_restore_user(&user);
	PopActiveSnapshot();
	CommitTransactionCommand();

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MySlot->failed = strcmp(state, "done") != 0;
	LWLockRelease(MigrateState->lock);
}

/*
 * After a restart: if migrate is installed in this database, queue the
 * runs and backfills that were interrupted.
 */
static void
scan_job(void)
{
	List	   *runs = NIL;
	ListCell   *lc;
	CatalogUser user;
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	installed = OidIsValid(get_extension_oid("migrate", true));
	if (installed)
	{
		catalog_become_owner(&user);
		runs = catalog_interrupted_runs();
		catalog_restore_user(&user);
	}

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	foreach(lc, runs)
	{
		RunInfo    *run = lfirst(lc);
		Oid			session_role = get_role_oid(run->session_role, true);
		Oid			run_role = get_role_oid(run->run_as, true);
		int			i;

		if (migrate_active_run_slot(MyDatabaseId) >= 0 ||
			!OidIsValid(session_role) || !OidIsValid(run_role))
			continue;
		i = migrate_slot_alloc(MIGRATE_JOB_RUN, MyDatabaseId);
		if (i < 0)
			break;
		MigrateState->slots[i].job_id = run->id;
		MigrateState->slots[i].session_role = session_role;
		MigrateState->slots[i].run_role = run_role;
		break;					/* one run per database; it supersedes older ones */
	}
	LWLockRelease(MigrateState->lock);

	/* backfills that were queued or running go on where they stopped */
	if (installed)
		backfill_recover();

	PopActiveSnapshot();
	CommitTransactionCommand();
	migrate_wake_launcher();
}
