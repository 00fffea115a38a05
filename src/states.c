/*-------------------------------------------------------------------------
 *
 * states.c
 *	  The one mapping between the states and actions of states.h and the
 *	  text the migrate.* tables hold (their CHECK constraints list the same
 *	  words).
 *
 * src/states.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "migrate/states.h"

static const char *const migration_states[] = {
	[MIGRATION_PENDING] = "pending",
	[MIGRATION_RUNNING] = "running",
	[MIGRATION_APPLIED] = "applied",
	[MIGRATION_FAILED] = "failed",
	[MIGRATION_ROLLED_BACK] = "rolled_back",
	[MIGRATION_UNREGISTERED] = "unregistered",
};

static const char *const history_actions[] = {
	[HISTORY_APPLY] = "apply",
	[HISTORY_ROLLBACK] = "rollback",
	[HISTORY_RESOLVE] = "resolve",
	[HISTORY_IMPORT] = "import",
	[HISTORY_BASELINE] = "baseline",
	[HISTORY_UNREGISTER] = "unregister",
};

static const char *const run_states[] = {
	[RUN_STATE_RUNNING] = "running",
	[RUN_STATE_DONE] = "done",
	[RUN_STATE_FAILED] = "failed",
	[RUN_STATE_INTERRUPTED] = "interrupted",
};

static const char *const backfill_states[] = {
	[BACKFILL_QUEUED] = "queued",
	[BACKFILL_RUNNING] = "running",
	[BACKFILL_PAUSED] = "paused",
	[BACKFILL_DONE] = "done",
	[BACKFILL_FAILED] = "failed",
	[BACKFILL_CANCELLED] = "cancelled",
};

/* The index of name in names[n]; a word the tables cannot hold is a bug. */
static int
parse(const char *const *names, int n, const char *name, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	elog(ERROR, "unexpected %s \"%s\"", what, name);
	return -1;					/* keep the compiler quiet */
}

const char *
migration_state_name(MigrationState state)
{
	return migration_states[state];
}

MigrationState
migration_state_parse(const char *name)
{
	return (MigrationState) parse(migration_states, lengthof(migration_states), name, "migration state");
}

const char *
history_action_name(HistoryAction action)
{
	return history_actions[action];
}

HistoryAction
history_action_parse(const char *name)
{
	return (HistoryAction) parse(history_actions, lengthof(history_actions), name, "history action");
}

const char *
run_state_name(RunState state)
{
	return run_states[state];
}

RunState
run_state_parse(const char *name)
{
	return (RunState) parse(run_states, lengthof(run_states), name, "run state");
}

const char *
backfill_state_name(BackfillState state)
{
	return backfill_states[state];
}

BackfillState
backfill_state_parse(const char *name)
{
	return (BackfillState) parse(backfill_states, lengthof(backfill_states), name, "backfill state");
}

/* A set of BACKFILL_STATE_BIT()s as a text[] literal: "{queued,running}". */
char *
backfill_state_set_literal(int states)
{
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < lengthof(backfill_states); i++)
	{
		if ((states & BACKFILL_STATE_BIT(i)) == 0)
			continue;
		if (buf.len > 1)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, backfill_states[i]);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
