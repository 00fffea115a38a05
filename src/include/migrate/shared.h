/*-------------------------------------------------------------------------
 *
 * shared.h
 *	  Shared state: the job slots through which callers hand work to the
 *	  background workers and workers report live progress.
 *
 * A slot lives from the request (a caller, or the launcher's crash
 * recovery) until the outcome has been read.  Anything that must survive a
 * crash is in the migrate.* tables; slots only carry what is live.
 *
 * src/include/migrate/shared.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_SHARED_H
#define MIGRATE_SHARED_H

#include "datatype/timestamp.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "migrate/migrate.h"
#include "migrate/retry.h"

#define MIGRATE_MAX_SLOTS	64
#define MIGRATE_MESSAGE_LEN 256
#define MIGRATE_SEARCH_PATH_LEN 1024

typedef enum MigrateJobKind
{
	MIGRATE_JOB_NONE = 0,
	MIGRATE_JOB_RUN,			/* apply or roll back migrations */
	MIGRATE_JOB_SCAN,			/* after a restart: find interrupted work */
	MIGRATE_JOB_BACKFILL		/* one batched backfill job */
} MigrateJobKind;

typedef enum MigrateSlotState
{
	MIGRATE_SLOT_FREE = 0,
	MIGRATE_SLOT_QUEUED,		/* waiting for the launcher to start a worker */
	MIGRATE_SLOT_STARTING,		/* worker registered, not attached yet */
	MIGRATE_SLOT_RUNNING,
	MIGRATE_SLOT_FINISHED		/* outcome ready for the caller to read */
} MigrateSlotState;

/* Why the launcher leaves a queued backfill slot without a worker. */
typedef enum MigrateHeld
{
	MIGRATE_HELD_NONE = 0,
	MIGRATE_HELD_BACKFILLS_FULL,	/* max_workers - 1 backfill workers run */
	MIGRATE_HELD_ROLE_CAP		/* its role runs max_workers_per_role */
} MigrateHeld;

/*
 * Who may write each field, and how it is read.  "lock" is
 * MigrateState->lock: taken exclusively to write, at least shared to read
 * (the functions below that say "lock held" assert it).  The slot's own
 * worker may read without the lock what only it writes, and what is fixed
 * once the slot is queued.
 */
typedef struct MigrateSlot
{
	/* lock; every change of state, by whoever makes it */
	MigrateSlotState state;
	/* written under the lock when the slot is claimed; fixed until it is free */
	MigrateJobKind kind;
	uint32		generation;		/* bumped on every allocation */
	Oid			dboid;
	/*
	 * lock: set by whoever queues the slot, before the launcher can see it;
	 * a run's worker changes role and sets handoff when it hands the run
	 * over, the next worker clears handoff
	 */
	Oid			role;			/* the role the worker logs in as, and runs as */
	Oid			requested_by;	/* run: the role that asked for it */
	bool		handoff;		/* run: its worker left it to one logged in as role */
	/* lock; a run's worker sets it, a backfill's clears it when it leaves */
	int64		job_id;			/* migrate.runs.id or a backfill job id */

	/*
	 * run request, copied from the caller's session: written by the caller
	 * under the lock while it claims the slot, fixed afterwards (the worker
	 * reads them without the lock)
	 */
	bool		rollback;
	bool		has_target;
	int32		steps;
	char		target[MIGRATE_VERSION_LEN];
	LockSchedule lock_schedule;
	bool		out_of_order;
	char		search_path[MIGRATE_SEARCH_PATH_LEN];

	/* who waits for the outcome: lock */
	pid_t		caller_pid;
	Latch	   *caller_latch;

	/*
	 * live progress: written by the slot's worker only, under the lock
	 * (rarely: once a migration, step or retry), read under the lock by the
	 * waiting caller and migrate.live()
	 */
	pid_t		worker_pid;
	char		version[MIGRATE_VERSION_LEN];
	int32		step;
	int32		steps_total;
	int32		retries;
	bool		waits_for_snapshots;	/* running CREATE INDEX CONCURRENTLY & co. */
	int32		lock_timeout;	/* of the step's current attempt, ms */
	TimestampTz lock_wait_since;	/* the step's first attempt, once one timed out; 0 before */

	/*
	 * set by the caller under the lock; the worker reads it without the
	 * lock between statements (a flag: a stale read stops it one check
	 * later)
	 */
	bool		stop_requested;

	/* a queued backfill the launcher holds back, and why: the launcher, lock */
	MigrateHeld held;

	/* outcome: lock (the worker, or the launcher if no worker attached) */
	bool		failed;
	char		message[MIGRATE_MESSAGE_LEN];
} MigrateSlot;

typedef struct MigrateShared
{
	LWLock	   *lock;			/* set at startup, never changes */
	/* lock: the launcher sets them when it starts and clears them on exit */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		recovery_scan_done; /* lock: the first launcher sets it */
	ConditionVariable backfill_cv;	/* broadcast when a backfill worker stops */
	MigrateSlot slots[MIGRATE_MAX_SLOTS];
} MigrateShared;

extern MigrateShared *MigrateState;

extern void migrate_shmem_init(void);
extern void migrate_require_shmem(void);
extern void migrate_require_no_run(const char *what, const char *verb);
extern int	migrate_slot_alloc(MigrateJobKind kind, Oid dboid);
extern int	migrate_active_run_slot(Oid dboid);
extern bool migrate_slot_has_backfill(const MigrateSlot *slot, int64 job_id);
extern void migrate_wake_launcher(void);
extern void migrate_slot_wake_caller(MigrateSlot *slot);

#endif							/* MIGRATE_SHARED_H */
