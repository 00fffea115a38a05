/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The DDL-safety guard: judges every DDL statement of every client with
 *	  the rules engine before the statement takes its lock.
 *
 * Three entry points, because PostgreSQL 15 has no single one that sees
 * everything early enough:
 *	- a ddl_command_start event trigger: runs before ALTER TABLE, CREATE
 *	  INDEX, DROP and the like look up (and lock) their relation;
 *	- a table_rewrite event trigger: an exact backstop that refuses a
 *	  rewrite of a large table the first check did not foresee (it runs
 *	  after ACCESS EXCLUSIVE is held, but before the rewrite);
 *	- a ProcessUtility hook for REINDEX, VACUUM FULL, CLUSTER, LOCK TABLE
 *	  and TRUNCATE, which fire no event trigger in 15.
 *
 * The guard stays out of the way of CREATE/ALTER EXTENSION scripts and of
 * the migration runner, whose statements were linted at apply time.  It
 * writes nothing: DROP INDEX CONCURRENTLY must remain the first action of
 * its transaction, so no transaction id may be assigned here.
 *
 * src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"

#include "migrate/compat.h"
#include "migrate/guard.h"
#include "migrate/judge.h"

static int	migrate_guard_mode = GUARD_ENFORCE;

static char *guard_allow_string = NULL;
static bool *guard_allow = NULL;	/* [RULE_COUNT], from migrate.allow */
static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * Rewrites the ddl_command_start check already reported (warned or
 * allowed) for the statement under way, by rule: the table_rewrite
 * backstop stays quiet about those instead of reporting them twice.
 */
static Oid	foreseen[RULE_COUNT];

/*
 * The source of the utility statement being run, for hints that quote it:
 * ddl_command_start hands its trigger only the parse tree.  Set by our
 * ProcessUtility hook around each statement (nested ones restore it).
 */
static const char *statement_query = NULL;
static int	statement_location = -1;
static int	statement_len = 0;

/* ProcessUtility levels under way, and the one the runner judged (-1: none) */
static int	utility_depth = 0;
static int	runner_skip_depth = -1;
static bool runner_allow[RULE_COUNT];	/* the running migration's allow comments */
static bool runner_allow_set = false;

static const struct config_enum_entry guard_modes[] = {
	{"off", GUARD_OFF, false},
	{"warn", GUARD_WARN, false},
	{"enforce", GUARD_ENFORCE, false},
	{NULL, 0, false}
};

static bool allow_check(char **newval, void **extra, GucSource source);
static void allow_assign(const char *newval, void *extra);
static bool guard_active(void);
static void guard_check(Node *stmt);
static void guard_report(List *findings, bool backstop);
static void guard_process_utility(PlannedStmt *pstmt, const char *queryString,
								  bool readOnlyTree, ProcessUtilityContext context,
								  ParamListInfo params, QueryEnvironment *queryEnv,
								  DestReceiver *dest, QueryCompletion *qc);

PG_FUNCTION_INFO_V1(migrate_guard_ddl_start);
PG_FUNCTION_INFO_V1(migrate_guard_table_rewrite);

void
guard_init(void)
{
	DefineCustomEnumVariable("migrate.guard",
							 "What the DDL-safety guard does with a statement that breaks a rule.",
							 "off: nothing; warn: a WARNING; enforce: an ERROR before the "
							 "statement takes its lock (rules of severity warning only warn).",
							 &migrate_guard_mode,
							 GUARD_ENFORCE, guard_modes,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("migrate.allow",
							   "Rules the DDL-safety guard lets through, comma-separated.",
							   "Meant for SET LOCAL in the transaction that needs it; every "
							   "violation it lets through is logged.",
							   &guard_allow_string,
							   "",
							   PGC_USERSET, 0,
							   allow_check, allow_assign, NULL);

	/* pg_upgrade runs the server with no hooks of ours */
	if (IsBinaryUpgrade)
		return;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = guard_process_utility;
}

/* Unknown rule ids are refused when set, not discovered at DDL time. */
static bool
allow_check(char **newval, void **extra, GucSource source)
{
	bool	   *allowed = migrate_guc_malloc(sizeof(bool) * RULE_COUNT);
	char	   *bad = NULL;

	if (allowed == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		return false;
	}
	memset(allowed, 0, sizeof(bool) * RULE_COUNT);
	if (!rules_parse_list(*newval, allowed, &bad))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("unknown rule \"%s\" in migrate.allow", bad);
		GUC_check_errhint("SELECT rule FROM pg_catalog.migrate_rules() lists the rule ids.");
		migrate_guc_free(allowed);
		return false;
	}
	*extra = allowed;
	return true;
}

static void
allow_assign(const char *newval, void *extra)
{
	guard_allow = (bool *) extra;
}

bool
guard_allowed(RuleId rule)
{
	return (guard_allow != NULL && guard_allow[rule]) ||
		(runner_allow_set && runner_allow[rule]);
}

/*
 * The migration runner judged a statement before running it (lint): the
 * guard lets exactly that statement through, a utility statement at the
 * next level of the hook, and judges what it runs in turn (a DO block's
 * statements, a function's), with the rules the migration's allow
 * comments allow.  "utility": the statement itself goes through
 * ProcessUtility; a SELECT or DML does not, and all it runs is judged.
 */
void
guard_runner_begin(bool utility, const bool *allowed)
{
	runner_skip_depth = utility ? utility_depth + 1 : -1;
	memcpy(runner_allow, allowed, sizeof(runner_allow));
	runner_allow_set = true;
}

void
guard_runner_end(void)
{
	runner_skip_depth = -1;
	runner_allow_set = false;
}

static bool
guard_active(void)
{
	return migrate_guard_mode != GUARD_OFF && !creating_extension &&
		utility_depth != runner_skip_depth && IsTransactionState();
}

static void
guard_check(Node *stmt)
{
	JudgeContext jc;

	memset(&jc, 0, sizeof(jc));
	jc.lock_timeout_set = LockTimeout > 0;
	if (statement_query)
	{
		const char *start = statement_query + Max(statement_location, 0);

		jc.text = statement_len > 0 ? pnstrdup(start, statement_len) : start;
	}
	guard_report(judge_safely(stmt, &jc), false);
}

/*
 * Logs what migrate.allow lets through, warns about the rest in warn mode
 * (and about warning-severity rules in enforce mode), and refuses the
 * statement if an error-severity rule is left.
 */
static void
guard_report(List *findings, bool backstop)
{
	Finding    *refuse = NULL;
	StringInfoData refused;
	ListCell   *lc;

	initStringInfo(&refused);
	foreach(lc, findings)
	{
		Finding    *f = lfirst(lc);
		const RuleDef *r = &migrate_rules[f->rule];

		if (backstop && foreseen[f->rule] == f->relid)
			continue;
		if (guard_allowed(f->rule) || migrate_guard_mode == GUARD_WARN || !r->is_error)
			foreseen[f->rule] = f->relid;

		if (guard_allowed(f->rule))
			ereport(LOG,
					(errmsg("migrate guard: rule %s allowed by migrate.allow for role \"%s\"",
							r->id, GetUserNameFromId(GetUserId(), false)),
					 errdetail("%s. Statement: %s", f->message,
							   debug_query_string ? debug_query_string : "(unknown)")));
		else if (migrate_guard_mode == GUARD_WARN || !r->is_error)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s: %s", r->id, f->message),
					 errdetail("Lock: %s.", GetLockmodeName(DEFAULT_LOCKMETHOD, f->lockmode)),
					 errhint("%s", f->hint)));
		else
		{
			if (refuse == NULL)
				refuse = f;
			appendStringInfo(&refused, "%s%s", refused.len > 0 ? "," : "", r->id);
		}
	}

	if (refuse)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: %s", migrate_rules[refuse->rule].id, refuse->message),
				 errdetail("The migrate guard refused the statement before it took its %s; nothing was changed.",
						   GetLockmodeName(DEFAULT_LOCKMETHOD, refuse->lockmode)),
				 errhint("%s To run it anyway: SET LOCAL migrate.allow = '%s';",
						 refuse->hint, refused.data)));
}

/*
 * ddl_command_start: the raw parse tree, before any relation is locked.
 * REINDEX fires it too from PostgreSQL 17 on, but the ProcessUtility hook
 * has judged that already, on every version.
 */
Datum
migrate_guard_ddl_start(PG_FUNCTION_ARGS)
{
	Node	   *stmt;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	stmt = ((EventTriggerData *) fcinfo->context)->parsetree;
	if (IsA(stmt, ReindexStmt))
		PG_RETURN_VOID();
	memset(foreseen, 0, sizeof(foreseen));
	if (guard_active())
		guard_check(stmt);
	PG_RETURN_VOID();
}

/*
 * table_rewrite: the exact backstop.  The table is already locked, but the
 * rewrite (the long part) has not started.
 */
Datum
migrate_guard_table_rewrite(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	if (guard_active())
		guard_report(judge_rewrite(DatumGetObjectId(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_OID)),
										 DatumGetInt32(OidFunctionCall0(F_PG_EVENT_TRIGGER_TABLE_REWRITE_REASON))),
					 true);
	PG_RETURN_VOID();
}

/*
 * The utility statements that fire no event trigger in PostgreSQL 15
 * (REINDEX does from 17 on; see migrate_guard_ddl_start).  The hook is
 * loaded in every database, so it only acts where the extension is
 * installed.
 */
static void
guard_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	const char *save_query = statement_query;
	int			save_location = statement_location;
	int			save_len = statement_len;

	/* this statement's source, for its own judgement here and its trigger's */
	statement_query = queryString;
	statement_location = pstmt->stmt_location;
	statement_len = pstmt->stmt_len;
	utility_depth++;
	PG_TRY();
	{
		switch (nodeTag(stmt))
		{
			case T_ReindexStmt:
			case T_VacuumStmt:
			case T_ClusterStmt:
			case T_LockStmt:
			case T_TruncateStmt:
				if (guard_active() && OidIsValid(get_extension_oid("migrate", true)))
					guard_check(stmt);
				break;
			default:
				break;
		}

		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		utility_depth--;
		statement_query = save_query;
		statement_location = save_location;
		statement_len = save_len;
	}
	PG_END_TRY();
}
