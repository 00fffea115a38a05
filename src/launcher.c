/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The static launcher: starts a job worker for every queued slot (up to
 *	  migrate.max_workers at once, backfills within their share) and, each
 *	  time the server starts or recovers from a crash, queues a scan of
 *	  every database so that runs and backfills the crash interrupted are
 *	  resumed.
 *
 * Job workers are dynamic and never restarted by the postmaster: the
 * launcher is the single place that decides to start one, from state that
 * the migrate.* tables make durable.
 *
 * src/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "migrate/settings.h"
#include "migrate/launcher.h"
#include "migrate/shared.h"

PG_FUNCTION_INFO_V1(migrate_backfill_held_reason);

#define LAUNCHER_SAFETY_POLL_MS 10000L

/*
 * The handle of the worker started for each slot, and the slot's generation
 * then; freed once that worker is known gone, or when the slot gets a new
 * worker.
 */

static BackgroundWorkerHandle *handles[MIGRATE_MAX_SLOTS];
static uint32 handle_generation[MIGRATE_MAX_SLOTS];

static void queue_database_scans(void);
static void launch_queued(void);
static void launcher_detach(int code, Datum arg);

void
migrate_launcher_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "migrate");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "migrate_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "migrate launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "migrate launcher");
	RegisterBackgroundWorker(&worker);
}

void
migrate_launcher_main(Datum main_arg)
{
	bool		scan;

	/* die() exits 1, so the postmaster restarts a terminated launcher */
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/* no database: just the shared catalogs, to list databases */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("migrate launcher");

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MigrateState->launcher_pid = MyProcPid;
	MigrateState->launcher_latch = MyLatch;
	scan = !MigrateState->recovery_scan_done;
	MigrateState->recovery_scan_done = true;
	LWLockRelease(MigrateState->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	if (scan)
		queue_database_scans();

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launch_queued();

		/*
		 * Callers queueing a slot, workers leaving theirs and the postmaster
		 * (bgw_notify_pid: a worker started or stopped) set the latch; the
		 * timeout is only a safety net.
		 */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_SAFETY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	MigrateState->launcher_pid = 0;
	MigrateState->launcher_latch = NULL;
	LWLockRelease(MigrateState->lock);
}

/* A database to check for interrupted work. */
typedef struct ScanTarget
{
	Oid			oid;
	NameData	name;
} ScanTarget;

/*
 * Queues one scan job per connectable database.  The scan worker checks
 * whether migrate is installed there and queues what was interrupted.  The
 * databases are listed first: the lock is held only to fill the slots,
 * never across the catalog scan or an ereport.
 */
static void
queue_database_scans(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *targets = NIL;
	List	   *unscanned = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		ScanTarget *target;

		if (!db->datallowconn || db->datistemplate)
			continue;
		target = palloc(sizeof(ScanTarget));
		target->oid = db->oid;
		target->name = db->datname;
		targets = lappend(targets, target);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	foreach(lc, targets)
	{
		ScanTarget *target = lfirst(lc);

		if (migrate_slot_alloc(MIGRATE_JOB_SCAN, target->oid) < 0)
			unscanned = lappend(unscanned, target);
	}
	LWLockRelease(MigrateState->lock);

	foreach(lc, unscanned)
		ereport(WARNING,
				(errmsg("migrate: no free job slot to check database \"%s\" for interrupted work",
						NameStr(((ScanTarget *) lfirst(lc))->name))));
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Whether the launcher must leave a queued backfill slot without a worker.
 * Migration runs are never starved by backfills: backfills use at most
 * migrate.max_workers - 1 workers, one is kept for runs (and the recovery
 * scans).  Nor can one role take every backfill worker: the jobs of a role
 * run at most migrate.max_workers_per_role of them.  A held slot stays
 * queued and starts when a worker ends or the settings change (both wake
 * the launcher).  Lock held.
 */
static MigrateHeld
backfill_held(const MigrateSlot *slot, int backfills)
{
	int			of_role = 0;
	int			i;

	Assert(LWLockHeldByMe(MigrateState->lock));

	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		const MigrateSlot *other = &MigrateState->slots[i];

		if (other->kind == MIGRATE_JOB_BACKFILL && other->role == slot->role &&
			(other->state == MIGRATE_SLOT_STARTING || other->state == MIGRATE_SLOT_RUNNING))
			of_role++;
	}
	if (of_role >= migrate_backfill_role_cap())
		return MIGRATE_HELD_ROLE_CAP;
	if (backfills >= migrate_max_workers - 1)
		return MIGRATE_HELD_BACKFILLS_FULL;
	return MIGRATE_HELD_NONE;
}

/*
 * Starts workers for queued slots while fewer than migrate.max_workers are
 * running, within the backfills' share (backfill_held), and fails slots
 * whose worker died before it could attach.
 */
static void
launch_queued(void)
{
	int			running = 0;
	int			backfills = 0;
	int			i;

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);

	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];
		pid_t		pid;

		if (handles[i] && GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED)
		{
			if (slot->state == MIGRATE_SLOT_STARTING &&
				handle_generation[i] == slot->generation)
			{
				slot->failed = true;
				strlcpy(slot->message, "the migrate worker exited before it started; see the server log",
						MIGRATE_MESSAGE_LEN);
				slot->state = slot->caller_pid ? MIGRATE_SLOT_FINISHED : MIGRATE_SLOT_FREE;
				migrate_slot_wake_caller(slot);
			}
			pfree(handles[i]);
			handles[i] = NULL;
		}
		if (slot->state == MIGRATE_SLOT_STARTING || slot->state == MIGRATE_SLOT_RUNNING)
		{
			running++;
			if (slot->kind == MIGRATE_JOB_BACKFILL)
				backfills++;
		}
	}

	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];
		BackgroundWorker worker;

		if (slot->state != MIGRATE_SLOT_QUEUED)
			continue;
		/* every held slot gets its reason, also when no worker is free */
		if (slot->kind == MIGRATE_JOB_BACKFILL)
		{
			slot->held = backfill_held(slot, backfills);
			if (slot->held != MIGRATE_HELD_NONE)
				continue;
		}
		if (running >= migrate_max_workers)
			continue;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "migrate");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "migrate_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "migrate worker %d", i);
		snprintf(worker.bgw_type, BGW_MAXLEN, "migrate worker");
		worker.bgw_main_arg = Int32GetDatum(i);
		memcpy(worker.bgw_extra, &slot->generation, sizeof(uint32));
		worker.bgw_notify_pid = MyProcPid;

		/* the slot's previous worker left it and no longer concerns us */
		if (handles[i])
		{
			pfree(handles[i]);
			handles[i] = NULL;
		}
		if (RegisterDynamicBackgroundWorker(&worker, &handles[i]))
		{
			handle_generation[i] = slot->generation;
			slot->state = MIGRATE_SLOT_STARTING;
			running++;
			if (slot->kind == MIGRATE_JOB_BACKFILL)
				backfills++;
		}
		else if (slot->caller_pid)
		{
			/* someone is waiting: tell them now rather than stall */
			slot->failed = true;
			strlcpy(slot->message, "could not start a background worker: max_worker_processes are all in use",
					MIGRATE_MESSAGE_LEN);
			slot->state = MIGRATE_SLOT_FINISHED;
			migrate_slot_wake_caller(slot);
		}
		else
			break;				/* recovery work waits for the next round */
	}

	LWLockRelease(MigrateState->lock);
}

/*
 * migrate.backfill_held_reason(id): why the launcher holds backfill job id
 * of this database back from a worker, or NULL.  Called by
 * migrate_backfill_status() for a job whose worker has not said why it
 * holds (the launcher has no database to write the job's row in).
 */
Datum
migrate_backfill_held_reason(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	MigrateHeld held = MIGRATE_HELD_NONE;
	Oid			role = InvalidOid;
	int			i;
	char	   *name;

	migrate_require_shmem();
	LWLockAcquire(MigrateState->lock, LW_SHARED);
	for (i = 0; i < MIGRATE_MAX_SLOTS && held == MIGRATE_HELD_NONE; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];

		if (slot->state == MIGRATE_SLOT_QUEUED && migrate_slot_has_backfill(slot, id))
		{
			held = slot->held;
			role = slot->role;
		}
	}
	LWLockRelease(MigrateState->lock);

	switch (held)
	{
		case MIGRATE_HELD_NONE:
			break;
		case MIGRATE_HELD_BACKFILLS_FULL:
			if (migrate_max_workers == 1)
				PG_RETURN_TEXT_P(cstring_to_text("migrate.max_workers is 1 and its worker is kept for migration runs"));
			PG_RETURN_TEXT_P(cstring_to_text(psprintf("all %d backfill workers are busy (migrate.max_workers = %d, one kept for migration runs)",
													  migrate_max_workers - 1, migrate_max_workers)));
		case MIGRATE_HELD_ROLE_CAP:
			name = GetUserNameFromId(role, true);
			PG_RETURN_TEXT_P(cstring_to_text(psprintf("the jobs of role \"%s\" already run migrate.max_workers_per_role (%d) backfill workers",
													  name ? name : "?", migrate_backfill_role_cap())));
	}
	PG_RETURN_NULL();
}
