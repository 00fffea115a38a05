/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  Retry schedules: the sleep between attempts (runs and backfills), and
 *	  the lock timeout of each attempt a migration step makes for its lock.
 *
 * A step that needs a strong lock queues behind whatever holds a weaker
 * one, and every later query of the application on the table queues
 * behind the step: the application is stalled for as long as one attempt
 * waits.  So the first attempts wait only briefly (migrate.lock_timeout_
 * initial, 50 ms by default) and each retry waits 8% longer, up to
 * migrate.lock_timeout (about 40 retries from 50 ms to 1 s, as GitLab's
 * with_lock_retries raises its timeout step by step): behind a reader of a
 * few seconds the application never waits more than ~100 ms at a time, and
 * only against a table that is never free for that long do the attempts
 * grow longer.  The sleeps between attempts double from 200 ms to 10 s;
 * the step gives up when migrate.lock_wait_budget has passed since its
 * first attempt (or after migrate.lock_retries retries, if set).
 *
 * src/retry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"

#include "migrate/retry.h"
#include "migrate/settings.h"

/* each retry's lock timeout is this much longer than the one before */
#define LOCK_TIMEOUT_GROWTH 1.08

/*
 * The sleep before retry number attempt + 1: first_ms doubling with each
 * attempt up to max_ms, then jittered down by up to half, so that several
 * waiters do not retry in lock step.
 */
long
retry_backoff_ms(int attempt, double first_ms, double max_ms)
{
	double		delay = Min(ldexp(first_ms, Min(Max(attempt, 0), 30)), max_ms);

	return (long) (delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2);
}

/* The lock timeout of attempt number attempt (0: the first) of a step. */
int
retry_lock_timeout(const LockSchedule *schedule, int attempt)
{
	double		ms = schedule->initial_timeout * pow(LOCK_TIMEOUT_GROWTH, Min(Max(attempt, 0), 1000));

	return (int) Max(1.0, Min(ms, (double) schedule->max_timeout));
}

/* The schedule the caller's settings ask for, to carry into its run. */
void
retry_schedule_from_settings(LockSchedule *schedule)
{
	schedule->initial_timeout = migrate_lock_timeout_initial;
	schedule->max_timeout = migrate_lock_timeout;
	schedule->retries = migrate_lock_retries;
	schedule->budget = migrate_lock_wait_budget;
}

/* "1 s", or "150 ms" when it is not a whole number of seconds */
static char *
format_ms(int32 ms)
{
	if (ms >= 1000 && ms % 1000 == 0)
		return psprintf("%d s", ms / 1000);
	return psprintf("%d ms", ms);
}

/* The schedule in words, for the server log. */
char *
retry_describe_schedule(const LockSchedule *schedule)
{
	int			first = retry_lock_timeout(schedule, 0);

	return psprintf("lock_timeout %s growing %d%% a retry up to %s, %s retries, for up to %s",
					format_ms(first),
					(int) rint((LOCK_TIMEOUT_GROWTH - 1) * 100),
					format_ms(Max(first, schedule->max_timeout)),
					schedule->retries < 0 ? "unlimited" : psprintf("at most %d", schedule->retries),
					format_ms(schedule->budget));
}
