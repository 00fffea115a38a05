/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  migrate_lint(sql): the guard's verdict for a whole script, without
 *	  running it; and the same check on every migration before
 *	  migrate_apply runs it.
 *
 * Each statement goes through the rules engine the guard uses, with the
 * live catalog.  Where the script's own earlier statements change the
 * verdict, their effects are replayed instead of executed: tables it
 * created are new, SET [LOCAL] lock_timeout and SET [LOCAL] migrate.allow
 * count from where they appear, and transaction boundaries decide whether
 * a VALIDATE runs in the transaction of its ADD ... NOT VALID and whether
 * schema and data changes share a transaction.
 *
 * Transactions: a script with BEGIN/COMMIT is read the way psql runs it
 * (a statement outside a block is its own transaction).  A script without
 * transaction control is read the way migrate runs a migration: runs of
 * transactional statements share one transaction, and a statement that
 * cannot run in a transaction block stands alone (script_steps()).
 *
 * "-- migrate:allow rule-id[,rule-id] reason" comments allow rules for the
 * whole script; an allow that matched nothing is reported.
 *
 * src/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "migrate/guard.h"
#include "migrate/lint.h"
#include "migrate/compat.h"
#include "migrate/migrate.h"
#include "migrate/judge.h"
#include "migrate/relation_risk.h"
#include "migrate/rules.h"
#include "migrate/script.h"

typedef struct LintRow
{
	int			statement;		/* 0: not about one statement */
	int			line;
	const char *rule;
	const char *severity;		/* error, warning or allowed */
	char	   *relation;
	const char *lock_mode;
	char	   *message;
	char	   *hint;
} LintRow;

typedef struct ScriptAllow
{
	int			line;
	RuleId		rule;
	bool		used;
} ScriptAllow;

typedef struct Lint
{
	const char *sql;
	List	   *rows;
	List	   *allows;			/* ScriptAllow, from comments */
	bool		session_allow[RULE_COUNT];	/* SET migrate.allow */
	bool		local_allow[RULE_COUNT];	/* SET LOCAL migrate.allow */
	bool		local_allow_set;
	int			lock_timeout;	/* session value, ms */
	int			local_lock_timeout; /* SET LOCAL value, -1 if none */
	JudgeContext jc;
	bool		xact_ddl;		/* this transaction changed the schema */
	bool		xact_dml;		/* ... and the data */
} Lint;

static void lint_comments(Lint *l);
static void lint_run(Lint *l, List *stmts, int *xact_of, int first);
static void lint_statement(Lint *l, ScriptStmt *s, bool report);
static void lint_set(Lint *l, ScriptStmt *s, VariableSetStmt *vs);
static void end_xact(Lint *l);
static bool is_schema_change(Lint *l, Node *stmt);
static void add_row(Lint *l, int statement, int line, const char *rule,
					const char *severity, char *relation, const char *lock_mode,
					char *message, char *hint);
static List *lint_parse(Lint *l, int **xact_of);

PG_FUNCTION_INFO_V1(migrate_lint);

/*
 * migrate_lint(sql text) RETURNS TABLE (statement, line, rule, severity,
 * relation, lock_mode, message, hint).  Never raises for a bad script:
 * syntax errors come back as a row.
 */
Datum
migrate_lint(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Lint		l;
	List	   *stmts;
	int		   *xact_of = NULL;
	ListCell   *lc;
	int			i;

	migrate_init_srf(fcinfo);
	memset(&l, 0, sizeof(l));
	l.sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	script_check_size(l.sql, "the script");
	l.lock_timeout = LockTimeout;
	l.local_lock_timeout = -1;
	for (i = 0; i < RULE_COUNT; i++)
		l.session_allow[i] = guard_allowed(i);

	lint_comments(&l);
	stmts = lint_parse(&l, &xact_of);
	if (stmts != NIL)
		lint_run(&l, stmts, xact_of, 0);

	foreach(lc, l.rows)
	{
		LintRow    *r = lfirst(lc);
		Datum		values[8];
		bool		nulls[8] = {false};

		values[0] = Int32GetDatum(r->statement);
		nulls[0] = r->statement == 0;
		values[1] = Int32GetDatum(r->line);
		values[2] = CStringGetTextDatum(r->rule);
		values[3] = CStringGetTextDatum(r->severity);
		values[4] = r->relation ? CStringGetTextDatum(r->relation) : (Datum) 0;
		nulls[4] = r->relation == NULL;
		values[5] = r->lock_mode ? CStringGetTextDatum(r->lock_mode) : (Datum) 0;
		nulls[5] = r->lock_mode == NULL;
		values[6] = CStringGetTextDatum(r->message);
		values[7] = r->hint ? CStringGetTextDatum(r->hint) : (Datum) 0;
		nulls[7] = r->hint == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The rules a script's "-- migrate:allow" comments allow, into
 * allowed[RULE_COUNT]: for what the script runs dynamically (the guard
 * judges a DO block's statements with them).
 */
void
lint_script_allows(const char *sql, bool *allowed)
{
	Lint		l;
	ListCell   *lc;

	memset(&l, 0, sizeof(l));
	l.sql = sql;
	lint_comments(&l);
	memset(allowed, 0, sizeof(bool) * RULE_COUNT);
	foreach(lc, l.allows)
		allowed[((ScriptAllow *) lfirst(lc))->rule] = true;
}

/*
 * Lints a migration in the worker before any of its steps runs (statements
 * before "first" already ran in an earlier attempt: they are replayed, not
 * judged).  Returns NULL when it may run; otherwise the error to record as
 * the failed attempt, with *bad_stmt set to the index of the statement.
 * Warnings and allowed violations go to the server log.
 */
ErrorData *
lint_check_migration(const char *sql, List *stmts, bool transactional, int first,
					 int lock_timeout, int *bad_stmt)
{
	MemoryContext outer = CurrentMemoryContext;
	ErrorData  *edata = NULL;
	Lint		l;
	List	   *steps;
	int		   *xact_of;
	ListCell   *lc;
	int			i;

	memset(&l, 0, sizeof(l));
	l.sql = sql;
	l.lock_timeout = lock_timeout;
	l.local_lock_timeout = -1;

	/* one transaction per step, as the runner runs them */
	steps = script_steps(stmts, transactional);
	xact_of = palloc(sizeof(int) * list_length(stmts));
	i = 0;
	foreach(lc, steps)
	{
		ScriptStep *st = lfirst(lc);
		int			k;

		for (k = st->first; k < st->first + st->count; k++)
			xact_of[k] = i;
		i++;
	}

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(outer);
	lint_comments(&l);
	lint_run(&l, stmts, xact_of, first);

	foreach(lc, l.rows)
	{
		LintRow    *r = lfirst(lc);

		if (strcmp(r->severity, "error") == 0)
		{
			if (edata == NULL)
			{
				edata = palloc0(sizeof(ErrorData));
				edata->elevel = ERROR;
				edata->sqlerrcode = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
				edata->message = psprintf("%s: %s", r->rule, r->message);
				edata->detail = psprintf("migrate_apply lints every migration before running it; statement %d (line %d) breaks rule %s, so no step of this migration ran.",
										 r->statement, r->line, r->rule);
				edata->hint = psprintf("%s To run it anyway, add the comment -- migrate:allow %s <reason> to the script and register it again.",
									   r->hint ? r->hint : "", r->rule);
				edata->context = pstrdup("refused by the apply-time lint");
				*bad_stmt = Max(r->statement - 1, 0);
			}
		}
		else
			ereport(LOG,
					(errmsg("migrate lint: %s rule %s in statement %d (line %d) for role \"%s\": %s",
							r->severity, r->rule, r->statement, r->line,
							GetUserNameFromId(GetUserId(), false), r->message)));
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return edata;
}

/*
 * Parses the script, catching any error as a row.  Returns its statements
 * and in *xact_of the transaction each belongs to.
 */
static List *
lint_parse(Lint *l, int **xact_of)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *volatile stmts = NIL;
	volatile bool explicit_xacts = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		List	   *raw = raw_parser(l->sql, RAW_PARSE_DEFAULT);
		ListCell   *lc;

		foreach(lc, raw)
			if (IsA(lfirst_node(RawStmt, lc)->stmt, TransactionStmt))
				explicit_xacts = true;

		/* without BEGIN/COMMIT it is judged as a migration would run */
		stmts = script_statements(l->sql, raw);
		if (!explicit_xacts)
			script_check_runnable(l->sql, stmts, "script");
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			pos;
		int			byteoff;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/* a cancel (statement_timeout included) is no finding of the script's */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);

		pos = edata->cursorpos > 0 ? edata->cursorpos : edata->internalpos;
		byteoff = pos > 0 ? pg_mbcharcliplen(l->sql, strlen(l->sql), pos - 1) : 0;
		add_row(l, pos > 0 ? script_statement_at(l->sql, byteoff) : 0,
				script_line_of(l->sql, byteoff),
				edata->sqlerrcode == ERRCODE_SYNTAX_ERROR ? "syntax-error" : "script-error",
				"error", NULL, NULL,
				pos > 0 ? psprintf("%s at character %d", edata->message, pos) : edata->message,
				edata->hint ? edata->hint : pstrdup("Fix the script; nothing after the error was checked."));
		stmts = NIL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (stmts == NIL)
		return NIL;

	*xact_of = palloc(sizeof(int) * list_length(stmts));
	if (!explicit_xacts)
	{
		List	   *steps = script_steps(stmts, true);
		ListCell   *lc;
		int			i = 0;

		foreach(lc, steps)
		{
			ScriptStep *st = lfirst(lc);
			int			k;

			for (k = st->first; k < st->first + st->count; k++)
				(*xact_of)[k] = i;
			i++;
		}
	}
	else
	{
		int			xact = 0;
		bool		in_block = false;
		int			i;

		for (i = 0; i < list_length(stmts); i++)
		{
			ScriptStmt *s = list_nth(stmts, i);
			TransactionStmt *ts = IsA(s->stmt, TransactionStmt) ? (TransactionStmt *) s->stmt : NULL;

			if (ts && (ts->kind == TRANS_STMT_BEGIN || ts->kind == TRANS_STMT_START))
			{
				xact++;
				in_block = true;
			}
			else if (!in_block)
				xact++;
			(*xact_of)[i] = xact;
			if (ts && (ts->kind == TRANS_STMT_COMMIT || ts->kind == TRANS_STMT_ROLLBACK ||
					   ts->kind == TRANS_STMT_PREPARE))
				in_block = false;
		}
	}
	return stmts;
}

static void
lint_run(Lint *l, List *stmts, int *xact_of, int first)
{
	ListCell   *lc;
	int			i;

	for (i = 0; i < list_length(stmts); i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i > 0 && xact_of[i] != xact_of[i - 1])
			end_xact(l);
		lint_statement(l, list_nth(stmts, i), i >= first);
	}

	foreach(lc, l->allows)
	{
		ScriptAllow *a = lfirst(lc);

		if (!a->used)
			add_row(l, 0, a->line, "unused-allow", "warning", NULL, NULL,
					psprintf("-- migrate:allow %s matched no statement", migrate_rules[a->rule].id),
					pstrdup("Remove the comment: an allow that is not needed hides the next real problem."));
	}
}

/* The effects of one transaction that last only until its end. */
static void
end_xact(Lint *l)
{
	l->local_lock_timeout = -1;
	l->local_allow_set = false;
	l->jc.not_valid = NIL;
	l->xact_ddl = l->xact_dml = false;
}

static void
lint_statement(Lint *l, ScriptStmt *s, bool report)
{
	Node	   *stmt = s->stmt;
	List	   *findings;
	ListCell   *lc;
	int			line = s->line;
	int			timeout = l->local_lock_timeout >= 0 ? l->local_lock_timeout : l->lock_timeout;

	if (IsA(stmt, VariableSetStmt))
	{
		lint_set(l, s, (VariableSetStmt *) stmt);
		return;
	}

	l->jc.lock_timeout_set = timeout > 0;
	l->jc.text = s->text;
	findings = judge_safely(stmt, &l->jc);

	foreach(lc, findings)
	{
		Finding    *f = lfirst(lc);
		const RuleDef *r = &migrate_rules[f->rule];
		const char *severity = r->is_error ? "error" : "warning";
		ListCell   *ac;

		if (l->local_allow_set ? l->local_allow[f->rule] : l->session_allow[f->rule])
			severity = "allowed";
		foreach(ac, l->allows)
		{
			ScriptAllow *a = lfirst(ac);

			if (a->rule == f->rule)
			{
				a->used = true;
				severity = "allowed";
			}
		}
		if (report)
			add_row(l, s->number, line, r->id, severity, f->relation,
					GetLockmodeName(DEFAULT_LOCKMETHOD, f->lockmode), f->message, f->hint);
	}

	/* replay what later statements depend on */
	if (IsA(stmt, CreateStmt))
		l->jc.created = lappend(l->jc.created, ((CreateStmt *) stmt)->relation);
	else if (IsA(stmt, CreateTableAsStmt))
		l->jc.created = lappend(l->jc.created, ((CreateTableAsStmt *) stmt)->into->rel);
	else if (IsA(stmt, AlterTableStmt))
	{
		AlterTableStmt *at = (AlterTableStmt *) stmt;

		foreach(lc, at->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
			Constraint *con = cmd->def && IsA(cmd->def, Constraint) ? (Constraint *) cmd->def : NULL;

			if (cmd->subtype == AT_AddConstraint && con && con->skip_validation && con->conname)
				l->jc.not_valid = lappend(l->jc.not_valid,
										  psprintf("%s.%s", at->relation->relname, con->conname));
		}
	}

	if (is_schema_change(l, stmt))
		l->xact_ddl = true;
	else if (IsA(stmt, InsertStmt) || IsA(stmt, UpdateStmt) || IsA(stmt, DeleteStmt) ||
			 IsA(stmt, MergeStmt))
		l->xact_dml = true;
	else
		return;

	if (l->xact_ddl && l->xact_dml && report)
	{
		const char *severity = "warning";
		ListCell   *ac;

		foreach(ac, l->allows)
		{
			ScriptAllow *a = lfirst(ac);

			if (a->rule == RULE_DDL_WITH_DML)
			{
				a->used = true;
				severity = "allowed";
			}
		}
		add_row(l, s->number, line, migrate_rules[RULE_DDL_WITH_DML].id, severity, NULL, NULL,
				psprintf("%s shares a transaction with a schema change of an existing table, which holds its lock until the data change commits",
						 GetCommandTagName(CreateCommandTag(stmt))),
				pstrdup(migrate_rules[RULE_DDL_WITH_DML].alternative));
		/* once per transaction is enough */
		l->xact_ddl = l->xact_dml = false;
	}
}

/* SET [LOCAL] lock_timeout / migrate.allow, and their RESETs. */
static void
lint_set(Lint *l, ScriptStmt *s, VariableSetStmt *vs)
{
	char	   *value = NULL;
	bool		reset_all = vs->kind == VAR_RESET_ALL;

	if (vs->kind == VAR_SET_VALUE)
		value = ExtractSetVariableArgs(vs);

	if (reset_all || (vs->name && strcmp(vs->name, "lock_timeout") == 0))
	{
		int			ms = 0;

		if (value && !parse_int(value, &ms, GUC_UNIT_MS, NULL))
			ms = 0;
		if (vs->is_local)
			l->local_lock_timeout = ms;
		else
			l->lock_timeout = ms;
	}
	if (reset_all || (vs->name && strcmp(vs->name, "migrate.allow") == 0))
	{
		bool		allowed[RULE_COUNT] = {false};
		char	   *bad = NULL;

		if (value && !rules_parse_list(value, allowed, &bad))
		{
			add_row(l, s->number, s->line, "invalid-allow", "error", NULL, NULL,
					psprintf("unknown rule \"%s\" in migrate.allow", bad),
					pstrdup("SELECT rule FROM pg_catalog.migrate_rules() lists the rule ids."));
			return;
		}
		if (vs->is_local)
		{
			memcpy(l->local_allow, allowed, sizeof(allowed));
			l->local_allow_set = true;
		}
		else
			memcpy(l->session_allow, allowed, sizeof(allowed));
	}
}

/*
 * A statement that changes the schema of a table that existed before the
 * script: its lock is what a data change in the same transaction prolongs.
 */
static bool
is_schema_change(Lint *l, Node *stmt)
{
	RangeVar   *rv;

	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			rv = ((AlterTableStmt *) stmt)->relation;
			break;
		case T_IndexStmt:
			rv = ((IndexStmt *) stmt)->relation;
			break;
		case T_RenameStmt:
			rv = ((RenameStmt *) stmt)->relation;
			break;
		default:
			return false;
	}
	return rv != NULL && !relrisk_created_in_script(l->jc.created, rv) &&
		OidIsValid(RangeVarGetRelid(rv, NoLock, true));
}

/*
 * Reads "-- migrate:allow rule-id[,rule-id] reason" comments.  A reason is
 * required, and an unknown rule id is an error row, so that a typo never
 * silently allows nothing (or everything).
 */
static void
lint_comments(Lint *l)
{
	const char *p = l->sql;
	const char *marker = "migrate:allow";
	ScriptLines lines;

	script_lines_start(&lines, l->sql);
	while ((p = strstr(p, marker)) != NULL)
	{
		const char *q = p;
		const char *ids;
		const char *end;
		char	   *list;
		List	   *rule_ids;
		ListCell   *lc;
		int			line;

		/* only as "--" then blanks then the marker */
		while (q > l->sql && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		p += strlen(marker);
		if (q - l->sql < 2 || q[-1] != '-' || q[-2] != '-')
			continue;
		CHECK_FOR_INTERRUPTS();
		line = script_lines_at(&lines, p - l->sql);
		while (*p == ' ' || *p == '\t')
			p++;
		ids = p;
		while (*p && !isspace((unsigned char) *p))
			p++;
		list = pnstrdup(ids, p - ids);
		while (*p == ' ' || *p == '\t')
			p++;
		end = p;
		while (*end && *end != '\n' && *end != '\r')
			end++;
		if (end == p || *list == '\0')
		{
			add_row(l, 0, line, "invalid-allow", "error", NULL, NULL,
					pstrdup("-- migrate:allow needs a rule id and a reason"),
					pstrdup("Write it as: -- migrate:allow rule-id why this is safe here"));
			continue;
		}
		if (!SplitIdentifierString(list, ',', &rule_ids))
		{
			add_row(l, 0, line, "invalid-allow", "error", NULL, NULL,
					pstrdup("-- migrate:allow needs rule ids separated by commas"),
					pstrdup("Write it as: -- migrate:allow rule-id[,rule-id] why this is safe here"));
			continue;
		}
		foreach(lc, rule_ids)
		{
			char	   *tok = lfirst(lc);
			int			rule = rules_lookup(tok);
			ScriptAllow *a;

			if (rule < 0)
			{
				add_row(l, 0, line, "invalid-allow", "error", NULL, NULL,
						psprintf("unknown rule \"%s\" in -- migrate:allow", tok),
						pstrdup("SELECT rule FROM pg_catalog.migrate_rules() lists the rule ids."));
				continue;
			}
			a = palloc0(sizeof(ScriptAllow));
			a->line = line;
			a->rule = rule;
			l->allows = lappend(l->allows, a);
		}
	}
}

static void
add_row(Lint *l, int statement, int line, const char *rule, const char *severity,
		char *relation, const char *lock_mode, char *message, char *hint)
{
	LintRow    *r = palloc0(sizeof(LintRow));

	r->statement = statement;
	r->line = line;
	r->rule = rule;
	r->severity = severity;
	r->relation = relation;
	r->lock_mode = lock_mode;
	r->message = message;
	r->hint = hint;
	l->rows = lappend(l->rows, r);
}

