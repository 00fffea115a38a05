/*-------------------------------------------------------------------------
 *
 * script.c
 *	  Splits migration scripts with the server's own parser and decides,
 *	  from the parse tree, which statements cannot run inside a
 *	  transaction block.
 *
 * Parsing is raw: no catalog access, so a script can be checked when it is
 * registered, long before the objects it names exist.
 *
 * src/script.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/cryptohash.h"
#include "common/sha1.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "migrate/settings.h"
#include "migrate/migrate.h"
#include "migrate/lexer.h"
#include "migrate/script.h"

static void refuse_client_copy(const char *sql, ScriptStmt *s, const char *what);
static void classify(ScriptStmt *s);
static bool calls_backfill_walker(Node *node, void *context);
static int	first_token(const char *sql, int byteoff);

/*
 * Parses a script into ScriptStmts.  Syntax errors are re-raised naming
 * the script ("what"), the statement number and the line, with the script
 * as the internal query so clients show the position.
 */
List *
script_parse(const char *sql, const char *what)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	List	   *raw = NIL;
	List	   *stmts;

	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			byteoff;
		int			stmtno;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();

		byteoff = edata->cursorpos > 0 ?
			pg_mbcharcliplen(sql, strlen(sql), edata->cursorpos - 1) : 0;
		stmtno = script_statement_at(sql, byteoff);

		if (sql[byteoff] == '\\')
		{
			int			len = 1;

			while (sql[byteoff + len] != '\0' && !isspace((unsigned char) sql[byteoff + len]))
				len++;
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("psql meta-command \"%.*s\" in %s, statement %d (line %d)",
							len, sql + byteoff, what, stmtno, script_line_of(sql, byteoff)),
					 errdetail("Migration scripts run in the server, which understands SQL only; backslash commands are psql features."),
					 errhint("Replace the meta-command with the SQL it stands for (inline the file \\i would read, write values in place of \\set variables)."),
					 internalerrposition(edata->cursorpos),
					 internalerrquery(sql)));
		}
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("%s in %s, statement %d (line %d)",
						edata->message, what, stmtno, script_line_of(sql, byteoff)),
				 errhint("Fix the script and register it again; nothing was stored."),
				 edata->cursorpos > 0 ? internalerrposition(edata->cursorpos) : 0,
				 internalerrquery(sql)));
	}
	PG_END_TRY();

	stmts = script_statements(sql, raw);
	script_check_runnable(sql, stmts, what);
	return stmts;
}


/* Turns the raw parser's output into classified ScriptStmts. */
List *
script_statements(const char *sql, List *raw)
{
	List	   *result = NIL;
	ListCell   *lc;
	int			n = 0;
	ScriptLines lines;

	script_lines_start(&lines, sql);
	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		ScriptStmt *s = palloc0(sizeof(ScriptStmt));
		int			len = rs->stmt_len > 0 ? rs->stmt_len : (int) strlen(sql) - rs->stmt_location;

		CHECK_FOR_INTERRUPTS();
		s->number = ++n;
		s->location = rs->stmt_location;
		s->line = script_lines_at(&lines, first_token(sql, rs->stmt_location));
		s->length = len;
		s->text = pnstrdup(sql + rs->stmt_location, len);
		s->stmt = rs->stmt;
		s->tag = GetCommandTagName(CreateCommandTag(rs->stmt));
		classify(s);
		result = lappend(result, s);
	}
	return result;
}

/*
 * Refuses what a migration cannot contain: transaction control, COPY from
 * or to the client, or no statement at all.
 */
void
script_check_runnable(const char *sql, List *stmts, const char *what)
{
	ListCell   *lc;

	foreach(lc, stmts)
	{
		ScriptStmt *s = lfirst(lc);
		Node	   *stmt = s->stmt;

		if (IsA(stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s in %s, statement %d (line %d), is not allowed",
							s->tag, what, s->number, s->line),
					 errdetail("Each migration runs in its own transaction, and statements that cannot run in one are detected and run on their own."),
					 errhint("Remove BEGIN, COMMIT and other transaction control from the script.")));
		if (IsA(stmt, CopyStmt))
			refuse_client_copy(sql, s, what);
	}

	if (stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s contains no SQL statement", what),
				 errhint("Pass the migration's SQL text; an empty or comment-only script does nothing.")));
}

/*
 * COPY FROM STDIN and COPY TO STDOUT need a client, and a migration runs in
 * a background worker that has none (SPI refuses them, and the statement
 * would have done nothing): refused when the script is registered.  COPY
 * to or from a server file (filename set, PROGRAM included) passes.
 */
static void
refuse_client_copy(const char *sql, ScriptStmt *s, const char *what)
{
	CopyStmt   *copy = castNode(CopyStmt, s->stmt);

	if (copy->filename != NULL)
		return;
	if (copy->is_from)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM STDIN in %s, statement %d (line %d), is not supported",
						what, s->number, s->line),
				 errdetail("A migration runs in a background worker, which has no client to read data from."),
				 errhint("Write the rows as INSERT statements, or COPY from a file the server can read.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("COPY TO STDOUT in %s, statement %d (line %d), is not supported",
					what, s->number, s->line),
			 errdetail("A migration runs in a background worker, which has no client to send rows to."),
			 errhint("COPY to a file the server can write (COPY ... TO '/path/file'), or copy the rows within the database with INSERT ... SELECT.")));
}

/*
 * Decides from the raw parse tree whether a statement calls
 * PreventInTransactionBlock() when run (PostgreSQL 15's list).
 */
static void
classify(ScriptStmt *s)
{
	Node	   *n = s->stmt;

	if (IsA(n, SelectStmt) || IsA(n, InsertStmt) || IsA(n, UpdateStmt) || IsA(n, DeleteStmt))
		s->starts_backfill = calls_backfill_walker(n, NULL);

	switch (nodeTag(n))
	{
		case T_IndexStmt:
			s->toplevel = s->waits_for_snapshots = ((IndexStmt *) n)->concurrent;
			break;
		case T_DropStmt:
			s->toplevel = s->waits_for_snapshots = ((DropStmt *) n)->concurrent;
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *r = (ReindexStmt *) n;

				s->waits_for_snapshots = script_option_true(r->params, "concurrently");
				s->toplevel = s->waits_for_snapshots ||
					r->kind == REINDEX_OBJECT_SCHEMA ||
					r->kind == REINDEX_OBJECT_SYSTEM ||
					r->kind == REINDEX_OBJECT_DATABASE;
				break;
			}
		case T_VacuumStmt:
			s->toplevel = ((VacuumStmt *) n)->is_vacuumcmd;
			break;
		case T_ClusterStmt:
			s->toplevel = ((ClusterStmt *) n)->relation == NULL;
			break;
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterTableStmt *) n)->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						s->toplevel = s->waits_for_snapshots = true;
				}
				break;
			}
		case T_AlterDatabaseStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterDatabaseStmt *) n)->options)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
						s->toplevel = true;
				break;
			}
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
			s->toplevel = true;
			break;
		case T_AlterEnumStmt:
			/* a new enum value is unusable until committed */
			s->ends_step = ((AlterEnumStmt *) n)->newVal != NULL &&
				((AlterEnumStmt *) n)->oldVal == NULL;
			break;
		default:
			break;
	}
}

/* Does a DML statement's raw tree call migrate_backfill()? */
static bool
calls_backfill_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall) &&
		strcmp(strVal(llast(((FuncCall *) node)->funcname)), "migrate_backfill") == 0)
		return true;
	return raw_expression_tree_walker(node, calls_backfill_walker, context);
}

/*
 * Whether a statement's boolean option (REINDEX (CONCURRENTLY), VACUUM
 * (FULL), ...) is on; given twice, the last one counts, as the server's own
 * option loops read it.
 */
bool
script_option_true(List *options, const char *name)
{
	ListCell   *lc;
	bool		on = false;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) == 0)
			on = defGetBoolean(d);
	}
	return on;
}

/*
 * Groups statements into steps: runs of transactional statements share a
 * transaction; a top-level statement is a step of its own.  In a migration
 * registered non-transactional every statement is a step of its own.
 */
List *
script_steps(List *stmts, bool transactional)
{
	List	   *steps = NIL;
	ScriptStep *cur = NULL;
	int			i;

	for (i = 0; i < list_length(stmts); i++)
	{
		ScriptStmt *s = list_nth(stmts, i);

		if (s->toplevel || !transactional)
		{
			ScriptStep *st = palloc0(sizeof(ScriptStep));

			st->first = i;
			st->count = 1;
			st->toplevel = s->toplevel;
			steps = lappend(steps, st);
			cur = NULL;
			continue;
		}
		if (cur == NULL)
		{
			cur = palloc0(sizeof(ScriptStep));
			cur->first = i;
			steps = lappend(steps, cur);
		}
		cur->count++;
		if (s->ends_step)
			cur = NULL;
	}
	return steps;
}

/* sha256 of the script, as lower-case hex. */
char *
script_checksum(const char *sql)
{
	return script_digest(sql, strlen(sql), PG_SHA256);
}

/*
 * The hex digest of len bytes of data: sha256 for migrate's own checksums,
 * and the hashes other tools keep of their files (import.c).
 */
char *
script_digest(const char *data, size_t len, pg_cryptohash_type type)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(type);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			size = type == PG_SHA1 ? SHA1_DIGEST_LENGTH : PG_SHA256_DIGEST_LENGTH;
	char	   *hex = palloc(size * 2 + 1);

	Assert(type == PG_SHA1 || type == PG_SHA256);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, size) < 0)
		elog(ERROR, "could not compute a checksum: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex[hex_encode((const char *) digest, size, hex)] = '\0';
	return hex;
}

/*
 * Checks that a version is numbers separated by dots; errors name the
 * argument so the caller knows which input was wrong.
 */
void
script_check_version(const char *version, const char *argname)
{
	const char *p = version;
	bool		ok = *p != '\0' && strlen(version) < MIGRATE_VERSION_LEN;

	while (ok && *p)
	{
		if (!isdigit((unsigned char) *p))
			ok = false;
		while (isdigit((unsigned char) *p))
			p++;
		if (*p == '.')
		{
			p++;
			if (!isdigit((unsigned char) *p))
				ok = false;
		}
		else if (*p != '\0')
			ok = false;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid migration %s \"%s\"", argname, version),
				 errdetail("A version is one or more numbers separated by dots, at most %d characters long.",
						   MIGRATE_VERSION_LEN - 1),
				 errhint("Use versions such as 3, 1.10 or 20240101120000; they sort numerically part by part.")));
}

/*
 * The sort key of a version: its parts as numeric[], so that 2 < 10,
 * 1.9 < 1.10 and long timestamps compare exactly.
 */
Datum
script_version_key(const char *version)
{
	char	   *copy = pstrdup(version);
	char	   *part;
	char	   *save;
	Datum		parts[MIGRATE_VERSION_LEN];
	int			n = 0;

	script_check_version(version, "version");
	for (part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save))
		parts[n++] = DirectFunctionCall3(numeric_in, CStringGetDatum(part),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	return PointerGetDatum(construct_array(parts, n, NUMERICOID, -1, false, TYPALIGN_INT));
}

/*
 * The offset of the first token at or after byteoff: the raw parser starts
 * a statement right after the previous one's semicolon, blanks and
 * comments included.
 */
static int
first_token(const char *sql, int byteoff)
{
	const char *p = sql + byteoff;

	for (;;)
	{
		while (isspace((unsigned char) *p))
			p++;
		if (p[0] == '-' && p[1] == '-')
		{
			while (*p && *p != '\n')
				p++;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			const char *e = strstr(p + 2, "*/");

			p = e ? e + 2 : p + strlen(p);
		}
		else
			break;
	}
	return p - sql;
}

void
script_lines_start(ScriptLines *c, const char *sql)
{
	c->sql = sql;
	c->off = 0;
	c->line = 1;
}

/* The 1-based line of byteoff; an offset before the last one counts anew. */
int
script_lines_at(ScriptLines *c, int byteoff)
{
	if (byteoff < c->off)
		script_lines_start(c, c->sql);
	for (; c->off < byteoff && c->sql[c->off]; c->off++)
	{
		if (c->sql[c->off] == '\n')
			c->line++;
		if ((c->off & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return c->line;
}

/*
 * Refuses a script over migrate.max_script_size: registering it, or
 * linting it, would hold a backend (or the worker) for as long as it takes.
 */
void
script_check_size(const char *sql, const char *name)
{
	if (strlen(sql) > (Size) migrate_max_script_size * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large (%zu bytes)", name, strlen(sql)),
				 errdetail("migrate.max_script_size is %d kB.", migrate_max_script_size),
				 errhint("Load bulk data with COPY from a file, split the migration, or raise migrate.max_script_size.")));
}

/* 1-based line number of a byte offset. */
int
script_line_of(const char *sql, int byteoff)
{
	int			line = 1;
	int			i;

	for (i = 0; i < byteoff && sql[i]; i++)
		if (sql[i] == '\n')
			line++;
	return line;
}

/*
 * The 1-based number of the statement a byte offset falls in, counting the
 * statement-ending semicolons before it with the server's lexer, so quotes,
 * comments and dollar quoting are honoured.  For scripts that do not parse:
 * a lexer error (the cause of the syntax error itself) just ends the count.
 */
int
script_statement_at(const char *sql, int byteoff)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile int count = 0;

	PG_TRY();
	{
		Lexer		lx;

		lexer_start(&lx, sql);
		for (;;)
		{
			int			tok = lexer_next(&lx);

			if (tok == 0 || lx.loc >= byteoff)
				break;
			if (tok == ';')
				count++;
		}
		lexer_end(&lx);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
	}
	PG_END_TRY();
	return count + 1;
}

/* Walker: whether a raw expression holds a $n parameter. */
bool
script_has_param(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, ParamRef))
		return true;
	return raw_expression_tree_walker(node, script_has_param, context);
}
