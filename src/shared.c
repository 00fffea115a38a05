/*-------------------------------------------------------------------------
 *
 * shared.c
 *	  Shared memory for job slots, set up the PostgreSQL 15 way: requested
 *	  from shmem_request_hook, initialised from shmem_startup_hook.
 *
 * src/shared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "migrate/shared.h"

MigrateShared *MigrateState = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void migrate_shmem_request(void);
static void migrate_shmem_startup(void);

void
migrate_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = migrate_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = migrate_shmem_startup;
}

static void
migrate_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(MAXALIGN(sizeof(MigrateShared)));
	RequestNamedLWLockTranche("migrate", 1);
}

static void
migrate_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	MigrateState = ShmemInitStruct("migrate", sizeof(MigrateShared), &found);
	if (!found)
	{
		memset(MigrateState, 0, sizeof(MigrateShared));
		MigrateState->lock = &(GetNamedLWLockTranche("migrate"))->lock;
		ConditionVariableInit(&MigrateState->backfill_cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Every SQL entry point that needs the workers calls this first.  A library
 * not preloaded never gets this far (_PG_init refuses to load); the one
 * server that loads it without its shared memory is pg_upgrade's.
 */
void
migrate_require_shmem(void)
{
	if (MigrateState == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migrate does not run in binary upgrade mode"),
				 errhint("Call it once pg_upgrade has finished.")));
}

/*
 * The functions that record a decision about migrations without running
 * them (resolve, import, baseline, unregister) wait for no run: one in
 * progress could be at the very migration, so they refuse.  what is the
 * action ("resolve a migration").
 */
void
migrate_require_no_run(const char *what, const char *verb)
{
	bool		busy;

	migrate_require_shmem();
	LWLockAcquire(MigrateState->lock, LW_SHARED);
	busy = migrate_active_run_slot(MyDatabaseId) >= 0;
	LWLockRelease(MigrateState->lock);
	if (busy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot %s while a run is in progress in this database", what),
				 errhint("Wait for it (CALL migrate_wait()), then %s.", verb)));
}

/*
 * Claims a free slot for a job in the given database.  The caller holds
 * MigrateState->lock exclusively.  Returns the slot index, or -1 if every
 * slot is taken.
 */
int
migrate_slot_alloc(MigrateJobKind kind, Oid dboid)
{
	int			i;

	Assert(LWLockHeldByMeInMode(MigrateState->lock, LW_EXCLUSIVE));

	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];
		uint32		generation;

		if (slot->state != MIGRATE_SLOT_FREE)
			continue;
		generation = slot->generation + 1;
		memset(slot, 0, sizeof(MigrateSlot));
		slot->generation = generation;
		slot->kind = kind;
		slot->dboid = dboid;
		slot->state = MIGRATE_SLOT_QUEUED;
		return i;
	}
	return -1;
}

/*
 * Whether the slot is taken by backfill job job_id of this database, queued
 * for a worker or run by one.  Lock held.
 */
bool
migrate_slot_has_backfill(const MigrateSlot *slot, int64 job_id)
{
	Assert(LWLockHeldByMe(MigrateState->lock));
	return slot->state != MIGRATE_SLOT_FREE && slot->state != MIGRATE_SLOT_FINISHED &&
		slot->kind == MIGRATE_JOB_BACKFILL && slot->dboid == MyDatabaseId &&
		slot->job_id == job_id;
}

/* Index of the slot holding a run in the database, or -1.  Lock held. */
int
migrate_active_run_slot(Oid dboid)
{
	int			i;

	Assert(LWLockHeldByMe(MigrateState->lock));
	for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
	{
		MigrateSlot *slot = &MigrateState->slots[i];

		if (slot->state != MIGRATE_SLOT_FREE && slot->kind == MIGRATE_JOB_RUN &&
			slot->dboid == dboid)
			return i;
	}
	return -1;
}

void
migrate_wake_launcher(void)
{
	Latch	   *latch;

	LWLockAcquire(MigrateState->lock, LW_SHARED);
	latch = MigrateState->launcher_latch;
	LWLockRelease(MigrateState->lock);
	if (latch)
		SetLatch(latch);
}

/* The caller holds MigrateState->lock. */
void
migrate_slot_wake_caller(MigrateSlot *slot)
{
	Assert(LWLockHeldByMe(MigrateState->lock));
	if (slot->caller_latch)
		SetLatch(slot->caller_latch);
}
