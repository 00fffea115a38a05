/*-------------------------------------------------------------------------
 *
 * run_catalog.h
 *	  Reading and writing the run tables (migrate.migrations, runs,
 *	  history; the backfill tables: backfill_catalog.h).
 *
 * Every function here runs SPI in the current transaction, with a snapshot
 * already active, and fully qualified names.
 *
 * src/include/migrate/run_catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_RUN_CATALOG_H
#define MIGRATE_RUN_CATALOG_H

#include "migrate/states.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "migrate/retry.h"

typedef struct MigrationDef
{
	char	   *version;
	char	   *name;
	char	   *up_sql;
	char	   *down_sql;
	char	   *checksum;		/* of up_sql */
	char	   *down_checksum;	/* of down_sql, NULL without one */
	Oid			owner;			/* the role it runs as; InvalidOid once dropped */
	bool		transactional;	/* false: each statement commits on its own */
	bool		repeatable;		/* runs again whenever its script changes */
} MigrationDef;

/* The latest history row of a version. */
typedef struct LatestState
{
	bool		exists;			/* false: state is MIGRATION_PENDING */
	int64		id;
	HistoryAction action;
	MigrationState state;
	char	   *checksum;
	int			steps_done;
} LatestState;

typedef struct RunInfo
{
	int64		id;
	bool		rollback;
	List	   *plan;			/* MigrationDefs: version, and the checksum it
								 * was planned with (down_checksum for a
								 * rollback), NULL before 1.4 */
	char	   *search_path;
	LockSchedule lock;
} RunInfo;

/* The run a restart interrupted, as the recovery scan finds it. */
typedef struct InterruptedRun
{
	int64		id;
	Oid			owner;			/* of the migration it was on */
	bool		resume;			/* false: finished or failed by the scan */
} InterruptedRun;

/* Where and why a migration failed, for its history row. */
typedef struct MigrationError
{
	ErrorData  *edata;
	int			statement;		/* 1-based, 0 if unknown */
	int			position;		/* 1-based character in the script, 0 if unknown */
	const char *sql;			/* the failing statement */
} MigrationError;

/* How catalog_find() picks the registered migrations. */
typedef enum CatalogMatch
{
	CATALOG_MATCH_VERSION,		/* the same version, compared numerically */
	CATALOG_MATCH_UP_TO,		/* every version up to it */
	CATALOG_MATCH_NAME			/* by name (sqitch's change names) */
} CatalogMatch;

/* A registered migration and its latest history row, for an adoption. */
typedef struct RegisteredMigration
{
	MigrationDef def;			/* version, name, up_sql, checksum, owner */
	char	   *source;			/* the file it came from, or NULL */
	LatestState latest;			/* exists, action and state only */
} RegisteredMigration;

/* What an adoption records of a migration migrate did not run. */
typedef struct AdoptedAttempt
{
	MigrationState state;		/* applied, failed or rolled_back */
	TimestampTz finished_at;	/* when it ended; 0: unknown (now) */
	double		duration_ms;	/* < 0: unknown */
	const char *role;			/* who ran it; NULL: the caller */
	const char *error_message;	/* why it failed, or NULL */
	const char *note;
} AdoptedAttempt;

/* What a run did to one migration of its plan, for migrate_apply(). */
typedef struct RunOutcome
{
	char	   *version;
	char	   *name;
	bool		recorded;		/* the run wrote a history row for it */
	MigrationState state;		/* that row's, if recorded */
	bool		has_duration;
	double		duration_ms;
	char	   *detail;			/* the error with its statement, or the retries */
	char	   *error_detail;	/* the failing statement's DETAIL and HINT */
	char	   *error_hint;
} RunOutcome;

typedef struct CatalogUser
{
	Oid			userid;
	int			sec_context;
} CatalogUser;

extern bool catalog_version_ok(int elevel);
extern void catalog_become_owner(CatalogUser *save);
extern void catalog_restore_user(CatalogUser *save);
extern void catalog_xact_begin(CatalogUser *save);
extern void catalog_xact_commit(CatalogUser *save);
extern SPIPlanPtr catalog_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types);
extern void catalog_rows_for_caller(FunctionCallInfo fcinfo, const char *query,
									int nargs, Oid *types, Datum *values, const char *nulls);
extern void catalog_status_rows(FunctionCallInfo fcinfo);
extern void catalog_history_rows(FunctionCallInfo fcinfo, Datum version, bool version_null);
extern char *catalog_register(const char *version, Datum version_key, const char *name,
							  const char *up_sql, const char *down_sql,
							  int statements, int nontransactional, bool transactional,
							  const char *source, Oid caller);
extern char *catalog_register_repeatable(const char *name, const char *sql, int statements,
										int nontransactional, bool transactional,
										const char *source, Oid caller);
extern List *catalog_plan(bool rollback, const char *target, int steps, bool out_of_order);
extern MigrationDef *catalog_migration(const char *version);
extern void catalog_latest(const char *version, LatestState *out);

extern int64 catalog_run_create(bool rollback, const char *target, int steps, List *plan,
								const char *requested_by, const char *search_path,
								const LockSchedule *lock);
extern RunInfo *catalog_run_get(int64 id);
extern void catalog_run_finish(int64 id, RunState state);
extern List *catalog_run_outcome(int64 id, RunState *state);
extern InterruptedRun *catalog_interrupted_run(int max_crashes);

extern int64 catalog_history_start(int64 run_id, MigrationDef *m, bool rollback,
								   int steps_done, int steps_total);
extern void catalog_history_progress(int64 history_id, int steps_done, int retries);
extern void catalog_history_finish(int64 history_id, int64 run_id, MigrationDef *m,
								   bool rollback, MigrationState state,
								   int steps_done, int steps_total, int retries,
								   TimestampTz started_at, MigrationError *err);
extern char *catalog_resolve(const char *version, const char *state, Oid caller);
extern List *catalog_find(CatalogMatch how, const char *arg);
extern void catalog_history_mark(const MigrationDef *m, HistoryAction action,
								 const AdoptedAttempt *a, Oid caller);
extern char *catalog_unregister(const char *version, Oid caller);
extern void catalog_check_owner(const char *version, Oid owner, Oid caller, const char *action);

#endif							/* MIGRATE_RUN_CATALOG_H */
