/*-------------------------------------------------------------------------
 *
 * util.h
 *	  Helpers with no dependency on the rest of migrate (util.c).
 *
 * src/include/migrate/util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_UTIL_H
#define MIGRATE_UTIL_H

#include "fmgr.h"

extern ErrorData *migrate_take_error(MemoryContext cxt);
extern char *text_arg(FunctionCallInfo fcinfo, int n, const char *name);

#endif							/* MIGRATE_UTIL_H */
