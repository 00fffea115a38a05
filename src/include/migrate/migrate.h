/*-------------------------------------------------------------------------
 *
 * migrate.h
 *	  Names shared by every subsystem of the migrate extension.
 *
 * src/include/migrate/migrate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_H
#define MIGRATE_H

/* Schema holding the extension's state tables. */
#define MIGRATE_SCHEMA		"migrate"

/* Longest migration version accepted, including the terminating NUL. */
#define MIGRATE_VERSION_LEN	64

#include "fmgr.h"

/* A text argument of a SQL function that must not be null (api.c). */
extern char *text_arg(FunctionCallInfo fcinfo, int n, const char *name);

#endif							/* MIGRATE_H */
