/*-------------------------------------------------------------------------
 *
 * hints.c
 *	  Hints that quote the statement they are about: the statement made
 *	  safe, cut from its own text with the server's lexer (lexer.c).
 *
 * src/hints.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "commands/event_trigger.h"
#include "commands/tablecmds.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "parser/scanner.h"
#include "parser/scansup.h"
#include "partitioning/partbounds.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "migrate/hints.h"
#include "migrate/lexer.h"
#include "migrate/script.h"

static char *readable_literal(const char *text);
static char *text_between(const char *text, int start, int end);

/*
 * The create-index-blocking hint with the statement itself, CONCURRENTLY
 * put after CREATE [UNIQUE] INDEX with the server's lexer (the rest, comments
 * and layout included, as written); NULL (the rule's generic advice) when
 * the source is unknown or is not a CREATE INDEX (an ALTER TABLE that adds
 * a constraint builds its index too).
 */
char *
hint_concurrent_index(const char *text)
{
	Lexer		lx;
	int			tok;
	int			n = 0;
	int			start = -1;
	int			insert = -1;
	int			end;

	if (text == NULL)
		return NULL;
	lexer_start(&lx, text);
	while ((tok = lexer_next(&lx)) != 0)
	{
		if ((n == 0 && tok != LEX_CREATE) || (n == 1 && tok != LEX_UNIQUE && tok != LEX_INDEX) ||
			(n == 2 && tok == LEX_CONCURRENTLY) || tok == ';')
			break;
		if (n == 0)
			start = lx.loc;
		else if (n == 1 && tok == LEX_UNIQUE)
			continue;
		else if (n == 2)
			insert = lx.loc;
		n++;
	}
	end = tok != 0 ? lx.loc : (int) strlen(text);
	lexer_end(&lx);
	if (start < 0 || insert < 0)
		return NULL;
	return psprintf("Build it without blocking writes, outside a transaction block: %s CONCURRENTLY %s; then check pg_index.indisvalid (a build that fails leaves an invalid index: drop it and run this again).",
					text_between(text, start, insert), text_between(text, insert, end));
}

/*
 * The migrate_backfill() call that does what a one-column UPDATE does, cut
 * from the statement's text with the server's own lexer: the expression
 * runs from after "=" to the WHERE, the where clause from after WHERE to
 * RETURNING or the end, both at parenthesis depth 0.  NULL (the rule's
 * generic advice) for anything else: several columns, DEFAULT, FROM, WITH,
 * an alias the expression could use.
 */
char *
hint_backfill_call(const char *text, UpdateStmt *stmt, RelFacts *rel)
{
	ResTarget  *target;
	Lexer		lx;
	int			tok;
	int			depth = 0;
	int			expr_start = -1;
	int			expr_end = -1;
	int			where_start = -1;
	int			where_end = -1;
	int			end;
	bool		expr_next = false;
	bool		where_next = false;
	char	   *expr;
	char	   *where;
	char	   *args;

	if (text == NULL || list_length(stmt->targetList) != 1 || stmt->fromClause ||
		stmt->withClause || stmt->relation->alias)
		return NULL;
	target = linitial_node(ResTarget, stmt->targetList);
	/* migrate_backfill() would have no value for a $n parameter */
	if (target->indirection || IsA(target->val, SetToDefault) ||
		script_has_param(target->val, NULL) || script_has_param(stmt->whereClause, NULL))
		return NULL;

	lexer_start(&lx, text);
	while ((tok = lexer_next(&lx)) != 0)
	{
		if (expr_next)
			expr_start = lx.loc;
		if (where_next)
			where_start = lx.loc;
		expr_next = where_next = false;
		if (tok == '(' || tok == '[')
			depth++;
		else if (tok == ')' || tok == ']')
			depth--;
		else if (depth == 0 && tok == '=' && expr_start < 0)
			expr_next = true;
		else if (depth == 0 && tok == LEX_WHERE && expr_start >= 0 && where_start < 0)
		{
			expr_end = lx.loc;
			where_next = true;
		}
		else if (depth == 0 && (tok == LEX_RETURNING || tok == ';'))
			break;
	}
	end = tok != 0 ? lx.loc : (int) strlen(text);
	lexer_end(&lx);
	if (where_start >= 0)
		where_end = end;
	else
		expr_end = end;
	if (expr_start < 0 || expr_end <= expr_start || (where_start >= 0 && where_end <= where_start))
		return NULL;
	expr = text_between(text, expr_start, expr_end);
	where = where_start >= 0 ? text_between(text, where_start, where_end) : NULL;
	/* a comment pasted into the call could swallow what follows it */
	if (strstr(expr, "--") || strstr(expr, "/*") ||
		(where && (strstr(where, "--") || strstr(where, "/*"))))
		return NULL;

	args = psprintf("%s, %s%s%s", quote_literal_cstr(target->name), readable_literal(expr),
					where ? ", where_clause => " : "", where ? readable_literal(where) : "");
	/* migrate_backfill() takes one partition at a time */
	if (rel->relkind == RELKIND_PARTITIONED_TABLE)
		return psprintf("Backfill each partition in the background, in short batches that never wait on the application's row locks: SELECT migrate_backfill(relid, %s) FROM pg_catalog.pg_partition_tree(%s) WHERE isleaf; a migration that starts them stays running until they are done.",
						args, quote_literal_cstr(rel->name));
	return psprintf("Backfill it in the background, in short batches that never wait on the application's row locks: SELECT migrate_backfill(%s, %s); a migration that starts it stays running until it is done.",
					quote_literal_cstr(rel->name), args);
}

/* SQL text as a literal to paste: dollar-quoted if it holds quotes */
static char *
readable_literal(const char *text)
{
	if (strchr(text, '\'') && !strchr(text, '$'))
		return psprintf("$$%s$$", text);
	return quote_literal_cstr(text);
}

/* text[start, end) without the whitespace at its end */
static char *
text_between(const char *text, int start, int end)
{
	while (end > start && scanner_isspace(text[end - 1]))
		end--;
	return pnstrdup(text + start, end - start);
}
