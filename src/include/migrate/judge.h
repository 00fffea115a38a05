/*-------------------------------------------------------------------------
 *
 * judge.h
 *	  The engine that judges one statement against the live catalog
 *	  (judge.c).  Shared by the guard (guard.c) and migrate_lint (lint.c),
 *	  so that both always reach the same verdict.
 *
 * src/include/migrate/judge.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_JUDGE_H
#define MIGRATE_JUDGE_H

#include "nodes/parsenodes.h"

/*
 * What the caller knows beyond the catalog: the guard passes the session's
 * state, lint the state it replayed from the script so far.
 */
typedef struct JudgeContext
{
	bool		lock_timeout_set;
	const char *text;			/* the statement's source, for hints; or NULL */
	List	   *created;		/* RangeVar: tables the script created */
	List	   *not_valid;		/* char *"rel.constraint" added NOT VALID in
								 * this transaction of the script */
} JudgeContext;

extern List *judge_safely(Node *stmt, JudgeContext *jc);
extern List *judge_rewrite(Oid relid, int reason);

#endif							/* MIGRATE_JUDGE_H */
