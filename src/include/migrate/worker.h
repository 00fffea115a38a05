/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The dynamic background worker that runs one job from a slot.
 *
 * src/include/migrate/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_WORKER_H
#define MIGRATE_WORKER_H

#include "postmaster/bgworker.h"

extern PGDLLEXPORT void migrate_worker_main(Datum main_arg);
extern void migrate_worker_check_role(Oid role, const char *what);
extern void migrate_refuse_borrowed_rights(const char *fname);

#endif							/* MIGRATE_WORKER_H */
