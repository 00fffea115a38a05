/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  Retry schedules: the sleep between attempts, and the lock timeout of
 *	  each attempt a migration makes for its lock.
 *
 * src/include/migrate/retry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_RETRY_H
#define MIGRATE_RETRY_H

/*
 * How a run's steps wait for their locks, from the caller's migrate.*
 * settings (all in ms; retries -1 for no limit but the budget).
 */
typedef struct LockSchedule
{
	int32		initial_timeout;	/* migrate.lock_timeout_initial */
	int32		max_timeout;	/* migrate.lock_timeout */
	int32		retries;		/* migrate.lock_retries */
	int32		budget;			/* migrate.lock_wait_budget */
} LockSchedule;

extern long retry_backoff_ms(int attempt, double first_ms, double max_ms);
extern int	retry_lock_timeout(const LockSchedule *schedule, int attempt);
extern void retry_schedule_from_settings(LockSchedule *schedule);
extern char *retry_describe_schedule(const LockSchedule *schedule);

#endif							/* MIGRATE_RETRY_H */
