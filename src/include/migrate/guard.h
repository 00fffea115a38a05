/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  The DDL-safety guard: event triggers, ProcessUtility hook, the
 *	  migrate.guard / migrate.guard_min_size / migrate.allow settings.
 *
 * src/include/migrate/guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_GUARD_H
#define MIGRATE_GUARD_H

#include "migrate/rules.h"

typedef enum GuardMode
{
	GUARD_OFF,
	GUARD_WARN,
	GUARD_ENFORCE
} GuardMode;


extern void guard_init(void);
extern bool guard_allowed(RuleId rule);
extern void guard_runner_begin(bool utility, const bool *allowed);
extern void guard_runner_end(void);

#endif							/* MIGRATE_GUARD_H */
