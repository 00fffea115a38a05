/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared state: the job slots through which callers hand work to the
 *	  background workers and workers report live progress.
 *
 * A slot lives from the request (a caller, or the launcher's crash
 * recovery) until the outcome has been read.  Anything that must survive a
 * crash is in the migrate.* tables; slots only carry what is live.
 *
 * src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_SHMEM_H
#define MIGRATE_SHMEM_H

#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "migrate.h"

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

typedef struct MigrateSlot
{
	MigrateSlotState state;
	MigrateJobKind kind;
	uint32		generation;		/* bumped on every allocation */
	Oid			dboid;
	Oid			role;			/* the role the worker logs in as, and runs as */
	Oid			requested_by;	/* run: the role that asked for it */
	bool		handoff;		/* run: its worker left it to one logged in as role */
	int64		job_id;			/* migrate.runs.id or a backfill job id */

	/* run request, copied from the caller's session */
	bool		rollback;
	bool		has_target;
	int32		steps;
	char		target[MIGRATE_VERSION_LEN];
	int32		lock_timeout;
	int32		lock_retries;
	bool		out_of_order;
	char		search_path[MIGRATE_SEARCH_PATH_LEN];

	/* who waits for the outcome */
	pid_t		caller_pid;
	Latch	   *caller_latch;

	/* live progress */
	pid_t		worker_pid;
	char		version[MIGRATE_VERSION_LEN];
	int32		step;
	int32		steps_total;
	int32		retries;
	bool		waits_for_snapshots;	/* running CREATE INDEX CONCURRENTLY & co. */
	bool		stop_requested;

	/* a queued backfill the launcher holds back, and why */
	MigrateHeld held;

	/* outcome */
	bool		failed;
	char		message[MIGRATE_MESSAGE_LEN];
} MigrateSlot;

typedef struct MigrateShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		recovery_scan_done;
	ConditionVariable backfill_cv;	/* broadcast when a backfill worker stops */
	MigrateSlot slots[MIGRATE_MAX_SLOTS];
} MigrateShared;

extern MigrateShared *MigrateState;

extern void migrate_shmem_init(void);
extern void migrate_require_shmem(void);
extern int	migrate_slot_alloc(MigrateJobKind kind, Oid dboid);
extern int	migrate_active_run_slot(Oid dboid);
extern bool migrate_slot_has_backfill(const MigrateSlot *slot, int64 job_id);
extern void migrate_wake_launcher(void);
extern void migrate_slot_wake_caller(MigrateSlot *slot);

#endif							/* MIGRATE_SHMEM_H */
