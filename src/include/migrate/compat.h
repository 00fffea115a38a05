/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The API differences between the PostgreSQL versions migrate builds
 *	  against (15, 17 and 18), in one place: each name here is the one
 *	  spelling the rest of the code uses, whatever the server calls it.
 *
 * Keep the guards here, not in the .c files, so that supporting a new
 * major version means reading one file.  Only API differences belong
 * here; behaviour that differs between versions (before 17 a worker cannot
 * log in as a NOLOGIN role, so migrate_worker_check_role() refuses one)
 * stays next to the code it changes.
 *
 * src/include/migrate/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_COMPAT_H
#define MIGRATE_COMPAT_H

#include "common/relpath.h"
#include "utils/guc.h"
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif

/* SetSingleFuncCall() was renamed InitMaterializedSRF() in PostgreSQL 16. */
#if PG_VERSION_NUM >= 160000
#define migrate_init_srf(fcinfo) InitMaterializedSRF((fcinfo), 0)
#else
#define migrate_init_srf(fcinfo) SetSingleFuncCall((fcinfo), 0)
#endif

/*
 * The flags a job worker logs in with: as its role, a NOLOGIN one too from
 * 17 on (before, migrate_worker_check_role() refuses such a role).
 */
#if PG_VERSION_NUM >= 170000
#define MIGRATE_BGW_LOGIN_FLAGS BGWORKER_BYPASS_ROLELOGINCHECK
#else
#define MIGRATE_BGW_LOGIN_FLAGS 0
#endif

/* PortalRun() to completion, top level; it lost its run_once argument in 18. */
#if PG_VERSION_NUM >= 180000
#define migrate_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, (dest), (dest), (qc))
#else
#define migrate_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, true, (dest), (dest), (qc))
#endif

/*
 * A GUC check hook's "extra": the GUC machinery frees it with free()
 * before 16, with guc_free() (a pfree() in its own memory context) since.
 */
#if PG_VERSION_NUM >= 160000
#define migrate_guc_malloc(size) guc_malloc(LOG, (size))
#define migrate_guc_free(ptr) guc_free(ptr)
#else
#define migrate_guc_malloc(size) malloc(size)
#define migrate_guc_free(ptr) free(ptr)
#endif

/*
 * The path of a relation's main fork, palloc'd.  RelFileNode became
 * RelFileLocator in 16 (GetRelationPath() takes the same three OIDs and
 * spares us both), BackendId became ProcNumber in 17, and in 18 the path
 * comes back in a RelPathStr rather than palloc'd.
 */
static inline char *
migrate_main_fork_path(Oid dboid, Oid spcoid, Oid relfilenode, bool temp)
{
#if PG_VERSION_NUM >= 180000
	RelPathStr	path = GetRelationPath(dboid, spcoid, relfilenode,
									   temp ? ProcNumberForTempRelations() : INVALID_PROC_NUMBER,
									   MAIN_FORKNUM);

	return pstrdup(path.str);
#elif PG_VERSION_NUM >= 170000
	return GetRelationPath(dboid, spcoid, relfilenode,
						   temp ? ProcNumberForTempRelations() : INVALID_PROC_NUMBER,
						   MAIN_FORKNUM);
#else
	return GetRelationPath(dboid, spcoid, relfilenode,
						   temp ? BackendIdForTempRelations() : InvalidBackendId,
						   MAIN_FORKNUM);
#endif
}

#endif							/* MIGRATE_COMPAT_H */
