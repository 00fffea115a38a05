/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  The DDL-safety guard: event triggers, ProcessUtility hook, the
 *	  migrate.guard / migrate.guard_min_size / migrate.allow settings.
 *
 * src/guard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_GUARD_H
#define MIGRATE_GUARD_H

#include "rules.h"

typedef enum GuardMode
{
	GUARD_OFF,
	GUARD_WARN,
	GUARD_ENFORCE
} GuardMode;

extern int	migrate_guard_mode;

extern void guard_init(void);
extern bool guard_allowed(RuleId rule);

#endif							/* MIGRATE_GUARD_H */
