/*-------------------------------------------------------------------------
 *
 * hints.h
 *	  Hints cut from the statement's own text (hints.c).
 *
 * src/include/migrate/hints.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_HINTS_H
#define MIGRATE_HINTS_H

#include "nodes/parsenodes.h"

#include "migrate/relation_risk.h"

extern char *hint_concurrent_index(const char *text);
extern char *hint_backfill_call(const char *text, UpdateStmt *stmt, RelFacts *rel);

#endif							/* MIGRATE_HINTS_H */
