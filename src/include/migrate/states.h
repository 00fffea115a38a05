/*-------------------------------------------------------------------------
 *
 * states.h
 *	  The states and actions the migrate.* tables record, as enums with one
 *	  mapping to the text the tables hold (states.c).
 *
 * src/include/migrate/states.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_STATES_H
#define MIGRATE_STATES_H

/* A migration's state: its latest history row's (migrate.history.state). */
typedef enum MigrationState
{
	MIGRATION_PENDING,			/* no history row yet */
	MIGRATION_RUNNING,
	MIGRATION_APPLIED,
	MIGRATION_FAILED,
	MIGRATION_ROLLED_BACK,
	MIGRATION_UNREGISTERED
} MigrationState;

/* What a history row records (migrate.history.action). */
typedef enum HistoryAction
{
	HISTORY_APPLY,
	HISTORY_ROLLBACK,
	HISTORY_RESOLVE,
	HISTORY_IMPORT,
	HISTORY_BASELINE,
	HISTORY_UNREGISTER
} HistoryAction;

/* A run's state (migrate.runs.state). */
typedef enum RunState
{
	RUN_STATE_RUNNING,
	RUN_STATE_DONE,
	RUN_STATE_FAILED,
	RUN_STATE_INTERRUPTED
} RunState;

/* A backfill job's state (migrate.backfill_jobs.state). */
typedef enum BackfillState
{
	BACKFILL_QUEUED,
	BACKFILL_RUNNING,
	BACKFILL_PAUSED,
	BACKFILL_DONE,
	BACKFILL_FAILED,
	BACKFILL_CANCELLED
} BackfillState;

/* A set of backfill states: the states a change of a job applies to. */
#define BACKFILL_STATE_BIT(state)	(1 << (state))

extern const char *migration_state_name(MigrationState state);
extern MigrationState migration_state_parse(const char *name);
extern const char *history_action_name(HistoryAction action);
extern HistoryAction history_action_parse(const char *name);
extern const char *run_state_name(RunState state);
extern RunState run_state_parse(const char *name);
extern const char *backfill_state_name(BackfillState state);
extern BackfillState backfill_state_parse(const char *name);
extern char *backfill_state_set_literal(int states);

#endif							/* MIGRATE_STATES_H */
