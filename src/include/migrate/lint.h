/*-------------------------------------------------------------------------
 *
 * lint.h
 *	  migrate_lint(): judges a whole script with the live catalog without
 *	  running it, and the apply-time lint of each migration.
 *
 * src/include/migrate/lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_LINT_H
#define MIGRATE_LINT_H

#include "nodes/pg_list.h"

extern void lint_script_allows(const char *sql, bool *allowed);
extern ErrorData *lint_check_migration(const char *sql, List *stmts, bool transactional,
									   int first, int lock_timeout, int *bad_stmt);

#endif							/* MIGRATE_LINT_H */
