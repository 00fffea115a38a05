/*-------------------------------------------------------------------------
 *
 * script.h
 *	  Migration scripts: splitting with the server's parser, classifying
 *	  statements, grouping them into steps, checksums and version keys.
 *
 * src/include/migrate/script.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_SCRIPT_H
#define MIGRATE_SCRIPT_H

#include "common/cryptohash.h"
#include "nodes/pg_list.h"

/* One statement of a script, as the raw parser delimited it. */
typedef struct ScriptStmt
{
	int			number;			/* 1-based */
	int			location;		/* byte offset in the script */
	int			line;			/* 1-based line of its first token */
	int			length;			/* bytes */
	char	   *text;			/* the statement's own text */
	const char *tag;			/* command tag, e.g. "CREATE INDEX" */
	Node	   *stmt;			/* raw parse tree */
	bool		toplevel;		/* cannot run inside a transaction block */
	bool		waits_for_snapshots;	/* CONCURRENTLY: waits for other xacts */
	bool		ends_step;		/* later statements need it committed */
	bool		starts_backfill;	/* calls migrate_backfill(): the migration waits for it */
} ScriptStmt;

/*
 * A step is what runs as one unit: a group of transactional statements in
 * one transaction, or one top-level statement on its own.
 */
typedef struct ScriptStep
{
	int			first;			/* index into the statement list */
	int			count;
	bool		toplevel;
} ScriptStep;

extern List *script_parse(const char *sql, const char *what);
extern List *script_statements(const char *sql, List *raw);
extern void script_check_runnable(const char *sql, List *stmts, const char *what);
extern List *script_steps(List *stmts, bool transactional);
extern char *script_checksum(const char *sql);
extern char *script_digest(const char *data, size_t len, pg_cryptohash_type type);
extern void script_check_size(const char *sql, const char *name);
extern Datum script_version_key(const char *version);
extern void script_check_version(const char *version, const char *argname);
extern int	script_line_of(const char *sql, int byteoff);

/*
 * Line numbers for offsets visited in increasing order, each found by
 * counting on from the last: a walk over a whole script stays linear.
 */
typedef struct ScriptLines
{
	const char *sql;
	int			off;
	int			line;
} ScriptLines;

extern void script_lines_start(ScriptLines *c, const char *sql);
extern int	script_lines_at(ScriptLines *c, int byteoff);
extern int	script_statement_at(const char *sql, int byteoff);
extern bool script_option_true(List *options, const char *name);
extern bool script_has_param(Node *node, void *context);

#endif							/* MIGRATE_SCRIPT_H */
