/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The static background worker that starts job workers and, after a
 *	  restart or crash, finds the work that was interrupted.
 *
 * src/include/migrate/launcher.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_LAUNCHER_H
#define MIGRATE_LAUNCHER_H

#include "postmaster/bgworker.h"

extern void migrate_launcher_register(void);
extern PGDLLEXPORT void migrate_launcher_main(Datum main_arg);

#endif							/* MIGRATE_LAUNCHER_H */
