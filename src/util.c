/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers every layer of migrate uses: keeping an error a job
 *	  goes on after, and reading a required text argument.
 *
 * They depend on nothing else in migrate, so the runner, the backfill and
 * the SQL-facing files can all use them without depending on each other.
 *
 * src/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "migrate/util.h"

/*
 * In a PG_CATCH: keeps the error in cxt and rolls back, so the job can
 * record the failure or retry instead of exiting.
 */
ErrorData *
migrate_take_error(MemoryContext cxt)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	RESUME_INTERRUPTS();
	return edata;
}

/* A text argument of a SQL function that must not be null. */
char *
text_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}
