/*-------------------------------------------------------------------------
 *
 * run_catalog.c
 *	  The only C file that knows the columns of migrate.migrations,
 *	  migrate.runs and migrate.history (the SQL functions of the extension
 *	  script read them too).  The backfill tables are the backfill's own
 *	  (backfill_catalog.c).
 *
 * Callers run these in their own transaction with an active snapshot, as
 * the extension owner with a safe search_path (catalog_become_owner): the
 * worker and the SQL entry points that must know their caller (register,
 * resolve, plan, the backfill functions) switch to it around these calls
 * only; the SQL-language status functions are SECURITY DEFINER.
 *
 * src/run_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate/run_catalog.h"
#include "migrate/compat.h"
#include "migrate/migrate.h"
#include "migrate/script.h"

#define TEXTARRAY(list) PointerGetDatum(strlist_to_array(list))

static void spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, int expected);
static void spi_exec_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
						  Datum *values, const char *nulls, int expected);
static char *col(int row, int colno, MemoryContext cxt);
static Oid	col_oid(int row, int colno);
static ArrayType *strlist_to_array(List *list);
static Datum text_or_null(const char *s, char *null);

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "migrate catalog query failed: %s", SPI_result_code_string(rc));
}

/*
 * The plan of a catalog statement a process runs again and again, prepared
 * at its first use and kept for the life of the process in *plan.  It must
 * always run with the search_path catalog_become_owner sets, so that the
 * cached plan stays valid.  SPI connected.
 */
SPIPlanPtr
catalog_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare migrate catalog query: %s",
				 SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/* Like spi_exec, for the statements a worker runs for every migration. */
static void
spi_exec_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			  Datum *values, const char *nulls, int expected)
{
	int			rc;

	rc = SPI_execute_plan(catalog_keep_plan(plan, sql, nargs, types), values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "migrate catalog query failed: %s", SPI_result_code_string(rc));
}

/* A column of the last SPI result as a string in cxt, or NULL. */
static char *
col(int row, int colno, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, colno);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* A boolean column of the last SPI result, false for NULL. */
static bool
col_bool(int row, int colno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, colno, &isnull);

	return !isnull && DatumGetBool(d);
}

/* An oid column of the last SPI result, InvalidOid for NULL. */
static Oid
col_oid(int row, int colno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, colno, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

static ArrayType *
strlist_to_array(List *list)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(list), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, list)
		d[n++] = CStringGetTextDatum(lfirst(lc));
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

static Datum
text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * The tables change between versions (the backfill tables in 1.1 to 1.3,
 * the owner of a migration in 1.4): after the library was upgraded, its
 * code must not run against an older schema until ALTER EXTENSION has
 * brought the tables along.  Reports a mismatch at elevel (ERROR throws)
 * and returns whether the schema is current.
 */
bool
catalog_version_ok(int elevel)
{
	char	   *version;
	bool		ok;

	SPI_connect();
	spi_exec("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'migrate'",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	version = SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	ok = version == NULL || strcmp(version, MIGRATE_EXTVERSION) == 0;
	if (!ok)
		ereport(elevel,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"migrate\" is at version %s, its library at %s", version, MIGRATE_EXTVERSION),
				 errdetail("The tables of version %s differ.", MIGRATE_EXTVERSION),
				 errhint("Run ALTER EXTENSION migrate UPDATE.")));
	SPI_finish();
	return ok;
}

/*
 * Lets the worker, connected as the migrating role, write the migrate.*
 * tables: switches to the extension owner and to a search_path nobody else
 * controls, for the rest of the transaction (the user id until
 * catalog_restore_user).
 */
void
catalog_become_owner(CatalogUser *save)
{
	static Oid	owner = InvalidOid;

	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	if (!OidIsValid(owner))
	{
		bool		isnull;

		SPI_connect();
		spi_exec("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'migrate'",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("extension \"migrate\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION migrate.")));
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
	}
	SetUserIdAndSecContext(owner, save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
catalog_restore_user(CatalogUser *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/*
 * A transaction of a worker's own for catalog reads and writes: started
 * with a snapshot, as the extension owner until catalog_xact_commit().
 */
void
catalog_xact_begin(CatalogUser *save)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog_become_owner(save);
}

void
catalog_xact_commit(CatalogUser *save)
{
	catalog_restore_user(save);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Returns the rows of query as the result of the set-returning function
 * fcinfo, run as the extension owner.  A status function that shows other
 * roles' rows is not SECURITY DEFINER so that it knows its caller (inside a
 * definer function the caller is gone): it passes GetUserId() to query,
 * which blanks what the caller may not see, and reads the tables through
 * this.  query's columns are the function's result columns.
 */
void
catalog_rows_for_caller(FunctionCallInfo fcinfo, const char *query,
						int nargs, Oid *types, Datum *values, const char *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CatalogUser user;
	int			nestlevel;
	uint64		i;

	migrate_init_srf(fcinfo);
	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	SPI_connect();
	if (SPI_execute_with_args(query, nargs, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "migrate status query failed: %s", query);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum	   *row = palloc(sizeof(Datum) * rsinfo->setDesc->natts);
		bool	   *isnull = palloc(sizeof(bool) * rsinfo->setDesc->natts);

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, row, isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, isnull);
	}
	SPI_finish();
	catalog_restore_user(&user);
	/* false: drops the search_path catalog_become_owner set locally */
	AtEOXact_GUC(false, nestlevel);
}

/* migrate_status()'s rows, as the calling role may see them */
void
catalog_status_rows(FunctionCallInfo fcinfo)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(GetUserId())};

	catalog_rows_for_caller(fcinfo, "SELECT * FROM migrate.status_rows($1)",
							1, types, values, NULL);
}

/* migrate_history(version)'s rows (every migration's when version_null) */
void
catalog_history_rows(FunctionCallInfo fcinfo, Datum version, bool version_null)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(GetUserId()), version};
	char		nulls[2] = {' ', version_null ? 'n' : ' '};

	catalog_rows_for_caller(fcinfo, "SELECT * FROM migrate.history_rows($1, $2)",
							2, types, values, nulls);
}

/*
 * A migration belongs to the role that registered it: only that role, a
 * role with its privileges (a member) or a superuser may change or resolve
 * it, as for a pg_cron job.  Otherwise anyone who may apply could have
 * their own run execute a script someone else put in.
 */
void
catalog_check_owner(const char *version, Oid owner, Oid caller, const char *action)
{
	char	   *name;

	if (has_privs_of_role(caller, owner))
		return;
	name = OidIsValid(owner) ? GetUserNameFromId(owner, true) : NULL;
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("migration %s belongs to no role", version),
				 errdetail("The role that registered it was dropped."),
				 errhint("A superuser may %s it; registering it again makes it theirs.", action)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("migration %s belongs to role \"%s\"", version, name),
			 errdetail("Only the role that registered a migration, a member of it or a superuser may %s it.",
					   action),
			 errhint("Ask that role to %s it, or register your change as a new migration with a version of its own.",
					 action)));
}

/*
 * Stores a migration.  Identical re-registration is a no-op.  The up script
 * and the name are fixed once the migration's history shows that any of it
 * ran: a row in state applied (applied by a run, or marked applied by
 * migrate_resolve), or an apply attempt that recorded finished steps.  A
 * rollback or migrate_resolve(v, 'rolled_back') does not lift that: what
 * ran stays on record under the script that ran.  Only a migration none of
 * whose steps ever ran (pending, or failed before its first step finished)
 * may be fixed in place.  A down script may be added or fixed at any time: it does
 * not change what was applied.
 */
char *
catalog_register(const char *version, Datum version_key, const char *name,
				 const char *up_sql, const char *down_sql,
				 int statements, int nontransactional, bool transactional,
				 const char *source, Oid caller)
{
	char	   *checksum = script_checksum(up_sql);
	char	   *down_checksum = down_sql ? script_checksum(down_sql) : NULL;
	char	   *registered_by = GetUserNameFromId(caller, false);
	Oid			types[13] = {TEXTOID, NUMERICARRAYOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, INT4OID, INT4OID, NAMEOID, OIDOID, BOOLOID, TEXTOID};
	Oid			update_types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INT4OID, INT4OID, OIDOID, NAMEOID, BOOLOID, TEXTOID};
	Datum		values[13];
	char		nulls[13];
	char	   *result;

	memset(nulls, ' ', sizeof(nulls));
	SPI_connect();

	values[0] = CStringGetTextDatum(version);
	spi_exec("SELECT m.version, m.name, m.checksum, m.down_checksum, "
			 "       EXISTS (SELECT 1 FROM migrate.history h "
			 "               WHERE h.version = m.version AND h.state = 'applied'), "
			 "       r.steps_done, r.steps_total, m.owner, m.transactional, m.source "
			 "FROM migrate.migrations m "
			 "LEFT JOIN LATERAL (SELECT h.steps_done, h.steps_total FROM migrate.history h "
			 "                   WHERE h.version = m.version AND h.action = 'apply' "
			 "                     AND h.steps_done > 0 "
			 "                   ORDER BY h.id DESC LIMIT 1) r ON true "
			 "WHERE m.version = $1 FOR UPDATE OF m",
			 1, types, values, NULL, SPI_OK_SELECT);

	if (SPI_processed == 0)
	{
		/* same number spelled differently, e.g. 1.0 and 1.00, or 007 and 7 */
		values[0] = version_key;
		spi_exec("SELECT version FROM migrate.migrations WHERE version_key = $1",
				 1, &types[1], values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("migration version \"%s\" is the same as registered version \"%s\"",
							version, col(0, 1, CurrentMemoryContext)),
					 errdetail("Versions compare numerically part by part, so leading zeros do not make a new version."),
					 errhint("Use the registered spelling to update it, or choose a new version.")));

		values[0] = CStringGetTextDatum(version);
		values[1] = version_key;
		values[2] = CStringGetTextDatum(name);
		values[3] = CStringGetTextDatum(up_sql);
		values[4] = text_or_null(down_sql, &nulls[4]);
		values[5] = CStringGetTextDatum(checksum);
		values[6] = text_or_null(down_checksum, &nulls[6]);
		values[7] = Int32GetDatum(statements);
		values[8] = Int32GetDatum(nontransactional);
		values[9] = CStringGetDatum(registered_by);
		values[10] = ObjectIdGetDatum(caller);
		values[11] = BoolGetDatum(transactional);
		values[12] = text_or_null(source, &nulls[12]);
		spi_exec("INSERT INTO migrate.migrations (version, version_key, name, up_sql, down_sql, "
				 "  checksum, down_checksum, statements, nontransactional, registered_by, owner, "
				 "  transactional, source) "
				 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
				 13, types, values, nulls, SPI_OK_INSERT);
		result = "registered";
	}
	else
	{
		char	   *old_name = col(0, 2, CurrentMemoryContext);
		char	   *old_checksum = col(0, 3, CurrentMemoryContext);
		char	   *old_down = col(0, 4, CurrentMemoryContext);
		bool		was_applied = col_bool(0, 5);
		char	   *steps_ran = col(0, 6, CurrentMemoryContext);
		char	   *steps_total = col(0, 7, CurrentMemoryContext);
		Oid			owner = col_oid(0, 8);
		bool		old_transactional = col_bool(0, 9);
		char	   *old_source = col(0, 10, CurrentMemoryContext);
		bool		orphaned = !OidIsValid(owner) ||
			!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner));
		bool		same_source = (old_source == NULL && source == NULL) ||
			(old_source && source && strcmp(old_source, source) == 0);

		/* a migration whose role was dropped is adopted below */
		if (strcmp(old_checksum, checksum) == 0 && strcmp(old_name, name) == 0 &&
			((old_down == NULL && down_checksum == NULL) ||
			 (old_down && down_checksum && strcmp(old_down, down_checksum) == 0)) &&
			old_transactional == transactional && same_source && !orphaned)
			result = "unchanged";
		else
		{
			catalog_check_owner(version, owner, caller, "change");
			/* how it ran is part of what ran; the file's path is not */
			if ((was_applied || steps_ran) && old_transactional != transactional &&
				strcmp(old_checksum, checksum) == 0 && strcmp(old_name, name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot change migration %s to %s: it has already run",
								version, transactional ? "transactional" : "non-transactional"),
						 errdetail("It ran with %s.", old_transactional ?
								   "its statements grouped in transactions" :
								   "each statement in a transaction of its own"),
						 errhint("Register it as it was registered, or register the change as a new migration with a higher version.")));
			if ((was_applied || steps_ran) &&
				(strcmp(old_checksum, checksum) != 0 || strcmp(old_name, name) != 0))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 was_applied ?
						 errmsg("cannot change migration %s: it has been applied", version) :
						 errmsg("cannot change migration %s: an attempt to apply it already ran %s of its %s steps",
								version, steps_ran, steps_total),
						 strcmp(old_checksum, checksum) != 0 ?
						 errdetail("The registered up script has checksum %s; the new one has %s.",
								   old_checksum, checksum) :
						 errdetail("The registered name is \"%s\"; the new one is \"%s\".",
								   old_name, name),
						 was_applied ?
						 errhint("Applied migrations are immutable, also after a rollback: register the change as a new migration with a higher version.") :
						 errhint("Fix the cause and call migrate_apply() again (it resumes at the step that failed), or finish it by hand and mark it with migrate_resolve('%s', 'applied'); register a change as a new migration with a higher version.",
								 version)));

			values[0] = CStringGetTextDatum(version);
			values[1] = CStringGetTextDatum(name);
			values[2] = CStringGetTextDatum(up_sql);
			values[3] = text_or_null(down_sql, &nulls[3]);
			values[4] = CStringGetTextDatum(checksum);
			values[5] = text_or_null(down_checksum, &nulls[5]);
			values[6] = Int32GetDatum(statements);
			values[7] = Int32GetDatum(nontransactional);
			/*
			 * The owner stays: a member or a superuser changed it for them.
			 * Only a migration whose role is gone becomes the (superuser)
			 * caller's.
			 */
			values[8] = ObjectIdGetDatum(orphaned ? caller : owner);
			values[9] = CStringGetDatum(registered_by);
			values[10] = BoolGetDatum(transactional);
			values[11] = text_or_null(source, &nulls[11]);
			spi_exec("UPDATE migrate.migrations SET name = $2, up_sql = $3, down_sql = $4, "
					 "  checksum = $5, down_checksum = $6, statements = $7, nontransactional = $8, "
					 "  registered_at = now(), "
					 "  registered_by = CASE WHEN owner IS DISTINCT FROM $9 THEN $10 ELSE registered_by END, "
					 "  owner = $9, transactional = $11, source = $12 "
					 "WHERE version = $1",
					 12, update_types, values, nulls, SPI_OK_UPDATE);
			result = "updated";
		}
	}
	SPI_finish();
	return result;
}

/*
 * Stores a repeatable migration under its name.  Unlike a versioned one it
 * may change at any time (that is what makes it run again); only its owner,
 * a member or a superuser may change it.  Identical re-registration is a
 * no-op.
 */
char *
catalog_register_repeatable(const char *name, const char *sql, int statements,
							int nontransactional, bool transactional,
							const char *source, Oid caller)
{
	char	   *checksum = script_checksum(sql);
	char	   *registered_by = GetUserNameFromId(caller, false);
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, NAMEOID, OIDOID, BOOLOID,
	TEXTOID};
	Datum		values[9];
	char		nulls[9];
	char	   *result;

	memset(nulls, ' ', sizeof(nulls));
	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	spi_exec("SELECT m.repeatable, m.checksum, m.transactional, m.source, m.owner "
			 "FROM migrate.migrations m WHERE m.version = $1 FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	values[1] = CStringGetTextDatum(sql);
	values[2] = CStringGetTextDatum(checksum);
	values[3] = Int32GetDatum(statements);
	values[4] = Int32GetDatum(nontransactional);
	values[5] = CStringGetDatum(registered_by);
	values[6] = ObjectIdGetDatum(caller);
	values[7] = BoolGetDatum(transactional);
	values[8] = text_or_null(source, &nulls[8]);
	if (SPI_processed == 0)
	{
		spi_exec("INSERT INTO migrate.migrations (version, version_key, name, up_sql, checksum, "
				 "  statements, nontransactional, registered_by, owner, transactional, source, "
				 "  repeatable) "
				 "VALUES ($1, NULL, $1, $2, $3, $4, $5, $6, $7, $8, $9, true)",
				 9, types, values, nulls, SPI_OK_INSERT);
		result = "registered";
	}
	else
	{
		char	   *old_checksum = col(0, 2, CurrentMemoryContext);
		bool		old_transactional = col_bool(0, 3);
		char	   *old_source = col(0, 4, CurrentMemoryContext);
		Oid			owner = col_oid(0, 5);
		bool		orphaned = !OidIsValid(owner) ||
			!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner));

		/* names cannot be versions: this is only a row from outside */
		if (!col_bool(0, 1))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("migration %s is a versioned migration", name),
					 errhint("Choose another name for the repeatable migration.")));
		if (strcmp(old_checksum, checksum) == 0 && old_transactional == transactional &&
			((old_source == NULL && source == NULL) ||
			 (old_source && source && strcmp(old_source, source) == 0)) && !orphaned)
			result = "unchanged";
		else
		{
			catalog_check_owner(name, owner, caller, "change");
			values[6] = ObjectIdGetDatum(orphaned ? caller : owner);
			spi_exec("UPDATE migrate.migrations SET up_sql = $2, checksum = $3, statements = $4, "
					 "  nontransactional = $5, registered_at = now(), "
					 "  registered_by = CASE WHEN owner IS DISTINCT FROM $7 THEN $6 ELSE registered_by END, "
					 "  owner = $7, transactional = $8, source = $9 "
					 "WHERE version = $1",
					 9, types, values, nulls, SPI_OK_UPDATE);
			result = "updated";
		}
	}
	SPI_finish();
	return result;
}

/*
 * The migrations an apply (or rollback) would run, in execution order, as
 * MigrationDefs carrying version and name.  Every refusal happens here, so
 * that bad input fails before anything runs.
 */
List *
catalog_plan(bool rollback, const char *target, int steps, bool out_of_order)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {NUMERICARRAYOID};
	Datum		values[1];
	char		nulls[1] = {'n'};
	List	   *result = NIL;
	List	   *applied = NIL;
	char	   *last_applied = NULL;
	uint64		i;

	if (target)
	{
		values[0] = script_version_key(target);
		nulls[0] = ' ';
	}

	SPI_connect();
	/* repeatable migrations (no version_key) last, in name order */
	spi_exec("SELECT m.version, m.name, m.down_sql IS NOT NULL, h.action, h.state, "
			 "       $1 IS NULL OR coalesce(m.version_key <= $1, false), "
			 "       coalesce(m.version_key = $1, false), m.owner, "
			 "       m.checksum, m.down_checksum, m.repeatable, "
			 "       h.checksum IS NOT DISTINCT FROM m.checksum "
			 "FROM migrate.migrations m "
			 "LEFT JOIN LATERAL (SELECT action, state, checksum FROM migrate.history h "
			 "                   WHERE h.version = m.version ORDER BY h.id DESC LIMIT 1) h ON true "
			 "ORDER BY m.version_key, m.version",
			 1, types, values, nulls, SPI_OK_SELECT);
	/* the plan outlives SPI_finish */
	MemoryContextSwitchTo(outer);

	if (target)
	{
		bool		found = false;

		for (i = 0; i < SPI_processed; i++)
			if (col_bool(i, 7))
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown migration target \"%s\"", target),
					 errhint("Pass the version of a registered migration; migrate_status() lists them.")));
	}

	for (i = 0; i < SPI_processed; i++)
	{
		MigrationDef *m = palloc0(sizeof(MigrationDef));
		char	   *action = col(i, 4, outer);
		MigrationState state = action ? migration_state_parse(col(i, 5, outer)) : MIGRATION_PENDING;
		bool		has_down = col_bool(i, 3);
		bool		in_range = col_bool(i, 6);
		bool		is_applied = state == MIGRATION_APPLIED;
		bool		rolling_back = action && history_action_parse(action) == HISTORY_ROLLBACK &&
			state != MIGRATION_ROLLED_BACK;
		bool		repeatable = col_bool(i, 11);

		m->version = col(i, 1, outer);
		m->name = col(i, 2, outer);
		m->down_sql = has_down ? "" : NULL;
		m->owner = col_oid(i, 8);
		m->checksum = col(i, 9, outer);
		m->down_checksum = col(i, 10, outer);
		m->repeatable = repeatable;

		/*
		 * A repeatable migration runs at the end of a whole apply (not one
		 * up to a target) when its script changed since it last ran; it is
		 * never rolled back, and its place is not in the version order.
		 */
		if (repeatable)
		{
			if (!rollback && target == NULL &&
				!(is_applied && col_bool(i, 12)))
				result = lappend(result, m);
			continue;
		}
		if (!rollback)
		{
			if (rolling_back)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("migration %s is partly rolled back", m->version),
						 errdetail("Its last rollback ended in state \"%s\".", migration_state_name(state)),
						 errhint("Finish it with migrate_rollback_to(), or after fixing it by hand mark it with migrate_resolve('%s', 'applied') or migrate_resolve('%s', 'rolled_back').",
								 m->version, m->version)));
			if (is_applied)
			{
				last_applied = m->version;
				continue;
			}
			if (!in_range)
				continue;
			result = lappend(result, m);
		}
		else if (is_applied || rolling_back)
			applied = lcons(m, applied);
	}

	if (!rollback && !out_of_order && last_applied)
	{
		ListCell   *lc;

		/* anything planned that sorts below the newest applied version */
		foreach(lc, result)
		{
			MigrationDef *m = lfirst(lc);
			bool		below = false;

			for (i = 0; i < SPI_processed; i++)
			{
				char	   *v = col(i, 1, outer);

				if (strcmp(v, m->version) == 0)
					below = true;
				if (strcmp(v, last_applied) == 0)
					break;
			}
			if (below)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("pending migration %s is below the highest applied version %s",
								m->version, last_applied),
						 errdetail("Applying it now would run migrations out of order."),
						 errhint("Give it a version above %s, or SET migrate.out_of_order = on to apply it anyway.",
								 last_applied)));
		}
	}

	if (rollback)
	{
		ListCell   *lc;

		if (target == NULL && steps > list_length(applied))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot roll back %d migrations: only %d applied", steps, list_length(applied)),
					 errhint("Roll back at most %d steps; migrate_status() shows what is applied.",
							 list_length(applied))));
		foreach(lc, applied)
		{
			MigrationDef *m = lfirst(lc);

			if (target)
			{
				bool		above = false;
				uint64		j;

				/* rows are in version order: above target if after it */
				for (j = 0; j < SPI_processed; j++)
				{
					if (strcmp(col(j, 1, outer), m->version) == 0)
					{
						above = strcmp(col(j, 6, outer), "f") == 0;
						break;
					}
				}
				if (!above)
					continue;
			}
			else if (list_length(result) >= steps)
				break;
			if (m->down_sql == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("migration %s (%s) has no down script", m->version, m->name),
						 errdetail("Nothing was rolled back."),
						 errhint("Register it again with a down script: migrate_register('%s', '%s', up_sql, down_sql).",
								 m->version, m->name)));
			result = lappend(result, m);
		}
	}
	SPI_finish();
	return result;
}

MigrationDef *
catalog_migration(const char *version)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(version)};
	MigrationDef *m;

	SPI_connect();
	spi_exec_kept(&plan, "SELECT version, name, up_sql, down_sql, checksum, down_checksum, owner, "
				  "       transactional, repeatable "
				  "FROM migrate.migrations WHERE version = $1",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s is not registered", version),
				 errhint("Register it with migrate_register().")));
	m = MemoryContextAllocZero(outer, sizeof(MigrationDef));
	m->version = col(0, 1, outer);
	m->name = col(0, 2, outer);
	m->up_sql = col(0, 3, outer);
	m->down_sql = col(0, 4, outer);
	m->checksum = col(0, 5, outer);
	m->down_checksum = col(0, 6, outer);
	m->owner = col_oid(0, 7);
	m->transactional = col_bool(0, 8);
	m->repeatable = col_bool(0, 9);
	SPI_finish();
	return m;
}

void
catalog_latest(const char *version, LatestState *out)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(version)};
	bool		isnull;

	SPI_connect();
	spi_exec_kept(&plan, "SELECT action, state, checksum, steps_done, id FROM migrate.history "
			 "WHERE version = $1 ORDER BY id DESC LIMIT 1",
			 1, types, values, NULL, SPI_OK_SELECT);
	memset(out, 0, sizeof(LatestState));
	if (SPI_processed > 0)
	{
		out->exists = true;
		out->action = history_action_parse(col(0, 1, outer));
		out->state = migration_state_parse(col(0, 2, outer));
		out->checksum = col(0, 3, outer);
		out->steps_done = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
		out->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	}
	SPI_finish();
}

/*
 * Records a new run with its plan: the versions and the checksum of each
 * script it will run, so that a script changed after planning fails the run
 * instead of running unreviewed (runner.c).
 */
int64
catalog_run_create(bool rollback, const char *target, int steps, List *plan,
				   const char *requested_by, const char *search_path,
				   const LockSchedule *lock)
{
	Oid			types[12] = {TEXTOID, TEXTOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, NAMEOID,
	TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID};
	Datum		values[12];
	char		nulls[12];
	List	   *versions = NIL;
	List	   *checksums = NIL;
	ListCell   *lc;
	bool		isnull;
	int64		id;

	memset(nulls, ' ', sizeof(nulls));
	foreach(lc, plan)
	{
		MigrationDef *m = lfirst(lc);

		versions = lappend(versions, m->version);
		checksums = lappend(checksums, rollback ? m->down_checksum : m->checksum);
	}
	values[0] = CStringGetTextDatum(rollback ? "rollback" : "apply");
	values[1] = text_or_null(target, &nulls[1]);
	values[2] = Int32GetDatum(steps);
	values[3] = TEXTARRAY(versions);
	values[4] = TEXTARRAY(checksums);
	values[5] = CStringGetDatum(requested_by);
	values[6] = CStringGetTextDatum(search_path);
	values[7] = Int32GetDatum(lock->max_timeout);
	values[8] = Int32GetDatum(lock->retries);
	values[9] = Int32GetDatum(lock->initial_timeout);
	values[10] = Int32GetDatum(lock->budget);
	values[11] = CStringGetTextDatum(retry_describe_schedule(lock));
	if (rollback && target)
		nulls[2] = 'n';

	SPI_connect();
	/* an older run left running by a crash is superseded by this one */
	spi_exec("UPDATE migrate.runs SET state = 'interrupted', finished_at = clock_timestamp() "
			 "WHERE state = 'running'", 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	spi_exec("INSERT INTO migrate.runs (kind, target, steps, versions, checksums, requested_by, "
			 "  search_path, lock_timeout, lock_retries, lock_timeout_initial, lock_wait_budget, "
			 "  lock_schedule, state) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'running') RETURNING id",
			 12, types, values, nulls, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

RunInfo *
catalog_run_get(int64 id)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	RunInfo    *run;
	uint64		i;

	SPI_connect();
	/* a run from before 1.4 waits as it did: a fixed timeout, no budget */
	spi_exec("SELECT r.kind, r.search_path, r.lock_timeout, r.lock_retries, v.version, "
			 "       r.checksums[v.ord], coalesce(r.lock_timeout_initial, r.lock_timeout), "
			 "       coalesce(r.lock_wait_budget, 2147483647) "
			 "FROM migrate.runs r, unnest(r.versions) WITH ORDINALITY AS v(version, ord) "
			 "WHERE r.id = $1 ORDER BY v.ord",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		elog(ERROR, "migrate run " INT64_FORMAT " not found", id);

	run = MemoryContextAllocZero(outer, sizeof(RunInfo));
	run->id = id;
	run->rollback = strcmp(col(0, 1, outer), "rollback") == 0;
	run->search_path = col(0, 2, outer);
	run->lock.max_timeout = pg_strtoint32(col(0, 3, outer));
	run->lock.retries = pg_strtoint32(col(0, 4, outer));
	run->lock.initial_timeout = pg_strtoint32(col(0, 7, outer));
	run->lock.budget = pg_strtoint32(col(0, 8, outer));
	for (i = 0; i < SPI_processed; i++)
	{
		MigrationDef *m = MemoryContextAllocZero(outer, sizeof(MigrationDef));
		MemoryContext old;

		m->version = col(i, 5, outer);
		if (run->rollback)
			m->down_checksum = col(i, 6, outer);
		else
			m->checksum = col(i, 6, outer);
		old = MemoryContextSwitchTo(outer);
		run->plan = lappend(run->plan, m);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return run;
}

void
catalog_run_finish(int64 id, RunState state)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(id), CStringGetTextDatum(run_state_name(state))};

	SPI_connect();
	spi_exec("UPDATE migrate.runs SET state = $2, finished_at = clock_timestamp() WHERE id = $1",
			 2, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * What run id did to each migration of its plan, in plan order, read with
 * a fresh snapshot (the worker committed it after the caller's statement
 * started); *state is the run's own.  In the caller's memory.
 */
List *
catalog_run_outcome(int64 id, RunState *state)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	SPIPlanPtr	plan;
	List	   *result = NIL;
	uint64		i;

	SPI_connect();
	plan = SPI_prepare("SELECT v.version, coalesce(m.name, h.name), h.state, h.duration_ms, "
					   "  CASE WHEN h.error_message IS NOT NULL THEN "
					   "    h.error_code || ': ' || h.error_message "
					   "    || coalesce(' (statement ' || h.error_statement "
					   "       || coalesce(', position ' || h.error_position, '') || ')', '') "
					   "  WHEN h.retries > 0 THEN 'after ' || h.retries || ' lock timeout retries' END, "
					   "  r.state, h.error_detail, h.error_hint "
					   "FROM migrate.runs r "
					   "CROSS JOIN LATERAL unnest(r.versions) WITH ORDINALITY AS v(version, ord) "
					   "LEFT JOIN migrate.migrations m ON m.version = v.version "
					   "LEFT JOIN LATERAL (SELECT * FROM migrate.history h "
					   "  WHERE h.run_id = r.id AND h.version = v.version "
					   "  ORDER BY h.id DESC LIMIT 1) h ON true "
					   "WHERE r.id = $1 ORDER BY v.ord",
					   1, types);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the outcome of migrate run " INT64_FORMAT, id);

	*state = RUN_STATE_RUNNING;
	for (i = 0; i < SPI_processed; i++)
	{
		RunOutcome *o = MemoryContextAllocZero(outer, sizeof(RunOutcome));
		char	   *recorded = col(i, 3, outer);
		MemoryContext old;
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull);

		o->version = col(i, 1, outer);
		o->name = col(i, 2, outer);
		o->recorded = recorded != NULL;
		if (o->recorded)
			o->state = migration_state_parse(recorded);
		o->has_duration = !isnull;
		o->duration_ms = isnull ? 0 : DatumGetFloat8(d);
		o->detail = col(i, 5, outer);
		*state = run_state_parse(col(i, 6, outer));
		o->error_detail = col(i, 7, outer);
		o->error_hint = col(i, 8, outer);
		old = MemoryContextSwitchTo(outer);
		result = lappend(result, o);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * The run a crash or restart left in state running (NULL if none), with the
 * first migration of its plan not yet done and that migration's owner.  Each
 * call is one recovery: it counts the crashes on that migration, and at
 * max_crashes marks the migration and the run failed rather than resume
 * them into the same crash again.  A run with nothing left is finished here.
 */
InterruptedRun *
catalog_interrupted_run(int max_crashes)
{
	MemoryContext outer = CurrentMemoryContext;
	InterruptedRun *run;
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3];
	char	   *version;
	int			crashes;

	SPI_connect();
	spi_exec("SELECT r.id, n.version, m.owner "
			 "FROM migrate.runs r "
			 "LEFT JOIN LATERAL ("
			 "  SELECT v.version FROM unnest(r.versions) WITH ORDINALITY AS v(version, ord) "
			 "  LEFT JOIN LATERAL (SELECT h.state FROM migrate.history h WHERE h.version = v.version "
			 "                     ORDER BY h.id DESC LIMIT 1) h ON true "
			 "  WHERE h.state IS DISTINCT FROM "
			 "        CASE r.kind WHEN 'apply' THEN 'applied' ELSE 'rolled_back' END "
			 "  ORDER BY v.ord LIMIT 1) n ON true "
			 "LEFT JOIN migrate.migrations m ON m.version = n.version "
			 "WHERE r.state = 'running' ORDER BY r.id DESC LIMIT 1",
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		SPI_finish();
		return NULL;
	}
	run = MemoryContextAllocZero(outer, sizeof(InterruptedRun));
	run->id = pg_strtoint64(col(0, 1, outer));
	version = col(0, 2, outer);
	run->owner = col_oid(0, 3);
	if (version == NULL)
	{
		SPI_finish();
		catalog_run_finish(run->id, RUN_STATE_DONE);
		return run;
	}

	values[0] = Int64GetDatum(run->id);
	values[1] = CStringGetTextDatum(version);
	spi_exec("UPDATE migrate.runs SET crashes = CASE WHEN crashed_on = $2 THEN crashes + 1 ELSE 1 END, "
			 "  crashed_on = $2 WHERE id = $1 RETURNING crashes",
			 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	crashes = pg_strtoint32(col(0, 1, outer));
	run->resume = crashes < max_crashes;
	if (!run->resume)
	{
		values[2] = Int32GetDatum(crashes);
		/* the attempt's own row if it left one running, else a row of its own */
		spi_exec("WITH latest AS (SELECT h.* FROM migrate.history h WHERE h.version = $2 "
				 "                ORDER BY h.id DESC LIMIT 1), "
				 "failed AS (UPDATE migrate.history h SET state = 'failed', "
				 "             finished_at = clock_timestamp(), "
				 "             duration_ms = extract(epoch FROM clock_timestamp() - h.started_at) * 1000, "
				 "             error_code = '57P02', error_message = $4 "
				 "           FROM latest l WHERE h.id = l.id AND l.run_id = $1 AND l.state = 'running' "
				 "           RETURNING h.id) "
				 "INSERT INTO migrate.history (run_id, version, name, action, state, checksum, "
				 "  steps_done, steps_total, role, started_at, finished_at, duration_ms, "
				 "  error_code, error_message) "
				 "SELECT r.id, m.version, m.name, r.kind, 'failed', "
				 "  CASE r.kind WHEN 'apply' THEN m.checksum ELSE m.down_checksum END, 0, 1, "
				 "  coalesce(pg_get_userbyid(m.owner), m.registered_by), clock_timestamp(), "
				 "  clock_timestamp(), 0, '57P02', $4 "
				 "FROM migrate.runs r, migrate.migrations m "
				 "WHERE r.id = $1 AND m.version = $2 AND NOT EXISTS (SELECT 1 FROM failed)",
				 4, (Oid[]) {INT8OID, TEXTOID, INT4OID, TEXTOID},
				 (Datum[]) {values[0], values[1], values[2],
				 CStringGetTextDatum(psprintf("the migrate worker crashed %d times running this migration; see the server log",
											  crashes))},
				 NULL, SPI_OK_INSERT);
		ereport(LOG,
				(errmsg("migrate: migration %s crashed the worker %d times; run " INT64_FORMAT " is failed, not resumed",
						version, crashes, run->id),
				 errhint("Find the cause in the server log, fix the migration, and apply again.")));
		SPI_finish();
		catalog_run_finish(run->id, RUN_STATE_FAILED);
		return run;
	}
	SPI_finish();
	return run;
}

/* Starts the history row of a multi-step migration, committed on its own. */
int64
catalog_history_start(int64 run_id, MigrationDef *m, bool rollback,
					  int steps_done, int steps_total)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID};
	Datum		values[7];
	bool		isnull;
	int64		id;

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(m->version);
	values[2] = CStringGetTextDatum(m->name);
	values[3] = CStringGetTextDatum(rollback ? "rollback" : "apply");
	values[4] = CStringGetTextDatum(m->checksum);
	values[5] = Int32GetDatum(steps_done);
	values[6] = Int32GetDatum(steps_total);

	SPI_connect();
	spi_exec_kept(&plan, "INSERT INTO migrate.history (run_id, version, name, action, state, checksum, "
			 "  steps_done, steps_total, role, started_at) "
			 "SELECT $1, $2, $3, $4, 'running', $5, $6, $7, session_user, clock_timestamp() "
			 "FROM migrate.runs r WHERE r.id = $1 RETURNING id",
			 7, types, values, NULL, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return id;
}

void
catalog_history_progress(int64 history_id, int steps_done, int retries)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {INT8OID, INT4OID, INT4OID};
	Datum		values[3] = {Int64GetDatum(history_id), Int32GetDatum(steps_done), Int32GetDatum(retries)};

	SPI_connect();
	spi_exec_kept(&plan, "UPDATE migrate.history SET steps_done = $2, retries = $3 WHERE id = $1",
			 3, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * Records the end of an attempt: updates the running row history_id, or,
 * for a one-step migration (history_id 0), inserts the whole row in the
 * same transaction as the migration itself.
 */
void
catalog_history_finish(int64 history_id, int64 run_id, MigrationDef *m,
					   bool rollback, MigrationState state,
					   int steps_done, int steps_total, int retries,
					   TimestampTz started_at, MigrationError *err)
{
	static SPIPlanPtr update_plan = NULL;
	static SPIPlanPtr insert_plan = NULL;
	Oid			types[19] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, INT4OID, INT4OID, TIMESTAMPTZOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[19];
	char		nulls[19];
	ErrorData  *e = err ? err->edata : NULL;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(history_id);
	values[1] = Int64GetDatum(run_id);
	values[2] = CStringGetTextDatum(m->version);
	values[3] = CStringGetTextDatum(m->name);
	values[4] = CStringGetTextDatum(history_action_name(rollback ? HISTORY_ROLLBACK : HISTORY_APPLY));
	values[5] = CStringGetTextDatum(migration_state_name(state));
	values[6] = CStringGetTextDatum(m->checksum);
	values[7] = Int32GetDatum(steps_done);
	values[8] = Int32GetDatum(steps_total);
	values[9] = Int32GetDatum(retries);
	values[10] = TimestampTzGetDatum(started_at);
	values[11] = text_or_null(e ? unpack_sql_state(e->sqlerrcode) : NULL, &nulls[11]);
	values[12] = text_or_null(e ? e->message : NULL, &nulls[12]);
	values[13] = text_or_null(e ? e->detail : NULL, &nulls[13]);
	values[14] = text_or_null(e ? e->hint : NULL, &nulls[14]);
	values[15] = Int32GetDatum(err ? err->statement : 0);
	values[16] = Int32GetDatum(err ? err->position : 0);
	values[17] = text_or_null(err ? err->sql : NULL, &nulls[17]);
	values[18] = text_or_null(e ? e->context : NULL, &nulls[18]);
	if (!err || err->statement == 0)
		nulls[15] = 'n';
	if (!err || err->position == 0)
		nulls[16] = 'n';

	SPI_connect();
	if (history_id != 0)
		spi_exec_kept(&update_plan, "UPDATE migrate.history SET state = $6, steps_done = $8, retries = $10, "
				 "  finished_at = clock_timestamp(), "
				 "  duration_ms = extract(epoch FROM clock_timestamp() - $11) * 1000, "
				 "  error_code = $12, error_message = $13, error_detail = $14, error_hint = $15, "
				 "  error_statement = $16, error_position = $17, error_sql = $18, note = $19 "
				 "WHERE id = $1",
				 19, types, values, nulls, SPI_OK_UPDATE);
	else
		spi_exec_kept(&insert_plan, "INSERT INTO migrate.history (run_id, version, name, action, state, checksum, "
				 "  steps_done, steps_total, retries, role, started_at, finished_at, duration_ms, "
				 "  error_code, error_message, error_detail, error_hint, error_statement, "
				 "  error_position, error_sql, note) "
				 "SELECT $2, $3, $4, $5, $6, $7, $8, $9, $10, session_user, $11, clock_timestamp(), "
				 "  extract(epoch FROM clock_timestamp() - $11) * 1000, "
				 "  $12, $13, $14, $15, $16, $17, $18, $19 "
				 "FROM migrate.runs r WHERE r.id = $2 AND $1 = 0",
				 19, types, values, nulls, SPI_OK_INSERT);
	SPI_finish();
}

/*
 * Marks a failed or interrupted migration applied or rolled back after a
 * manual fix, appending a history row so the decision is on record.  Only
 * those: a pending or rolled back migration is applied by a run, an applied
 * one rolled back by its down script.
 */
char *
catalog_resolve(const char *version, const char *state, Oid caller)
{
	MigrationDef *m = catalog_migration(version);
	LatestState latest;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		values[5];
	char	   *who = GetUserNameFromId(caller, false);
	MigrationState current;
	char	   *note;

	catalog_check_owner(version, m->owner, caller, "resolve");
	catalog_latest(version, &latest);
	current = latest.exists ? latest.state : MIGRATION_PENDING;
	if (current == migration_state_parse(state))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s is already %s", version, state),
				 errhint("migrate_resolve() settles failed or interrupted migrations; this one needs nothing.")));
	/* a run records what it did; resolve may not stand in for one */
	if (current != MIGRATION_FAILED && current != MIGRATION_RUNNING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s is %s, not failed or interrupted", version, migration_state_name(current)),
				 errdetail("migrate_resolve() settles a migration whose last attempt failed or was interrupted, after a manual fix."),
				 current == MIGRATION_APPLIED ?
				 errhint("Roll it back with migrate_rollback() or migrate_rollback_to(), which run its down script.") :
				 current == MIGRATION_PENDING && strcmp(state, "applied") == 0 ?
				 errhint("If the database already has what it does, mark it and every migration before it applied without running them with migrate_baseline('%s'); otherwise apply it with migrate_apply().",
						 version) :
				 current == MIGRATION_PENDING ?
				 errhint("Apply it with migrate_apply(), or first register a changed script under its version with migrate_register(); a migration that never ran can be removed with migrate_unregister('%s').",
						 version) :
				 errhint("Apply it again with migrate_apply().")));

	note = psprintf("resolved by %s from state %s", who, migration_state_name(current));
	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(m->name);
	values[2] = CStringGetTextDatum(state);
	values[3] = CStringGetTextDatum(note);
	values[4] = CStringGetDatum(who);

	SPI_connect();
	spi_exec("INSERT INTO migrate.history (version, name, action, state, checksum, steps_done, "
			 "  steps_total, role, started_at, finished_at, note) "
			 "SELECT $1, $2, 'resolve', $3, m.checksum, 0, 0, $5, now(), now(), $4 "
			 "FROM migrate.migrations m WHERE m.version = $1",
			 5, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();
	return note;
}

/*
 * The registered versioned migrations an adoption (import.c) marks: the
 * one whose version equals arg numerically (CATALOG_MATCH_VERSION, so 007
 * finds 7), every one up to it (CATALOG_MATCH_UP_TO), or those named arg
 * (CATALOG_MATCH_NAME), in version order (repeatable ones have no
 * version and are never matched), each with its latest history row
 * (an unregister row does not count: the version had no history when it
 * was unregistered).  The rows are locked, so that a concurrent register,
 * adoption or unregister waits for this transaction and then sees its
 * history rows.
 */
List *
catalog_find(CatalogMatch how, const char *arg)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[3] = {NUMERICARRAYOID, INT4OID, TEXTOID};
	Datum		values[3];
	char		nulls[3];
	List	   *result = NIL;
	uint64		i;

	memset(nulls, ' ', sizeof(nulls));
	if (how == CATALOG_MATCH_NAME)
	{
		nulls[0] = 'n';
		values[2] = CStringGetTextDatum(arg);
	}
	else
	{
		values[0] = script_version_key(arg);
		nulls[2] = 'n';
	}
	values[1] = Int32GetDatum((int) how);

	SPI_connect();
	spi_exec_kept(&plan, "SELECT m.version, m.name, m.up_sql, m.checksum, m.owner, m.source, "
				  "       h.action, h.state "
				  "FROM migrate.migrations m "
				  "LEFT JOIN LATERAL (SELECT h.action, h.state FROM migrate.history h "
				  "                   WHERE h.version = m.version AND h.action <> 'unregister' "
				  "                   ORDER BY h.id DESC LIMIT 1) h ON true "
				  "WHERE CASE $2 WHEN 0 THEN m.version_key = $1 "
				  "              WHEN 1 THEN m.version_key <= $1 "
				  "              ELSE m.name = $3 AND m.version_key IS NOT NULL END "
				  "ORDER BY m.version_key FOR UPDATE OF m",
				  3, types, values, nulls, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		RegisteredMigration *r = MemoryContextAllocZero(outer, sizeof(RegisteredMigration));
		MemoryContext old;
		char	   *state;

		r->def.version = col(i, 1, outer);
		r->def.name = col(i, 2, outer);
		r->def.up_sql = col(i, 3, outer);
		r->def.checksum = col(i, 4, outer);
		r->def.owner = col_oid(i, 5);
		r->source = col(i, 6, outer);
		state = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 8);
		r->latest.exists = state != NULL;
		if (r->latest.exists)
		{
			r->latest.action = history_action_parse(SPI_getvalue(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 7));
			r->latest.state = migration_state_parse(state);
		}
		old = MemoryContextSwitchTo(outer);
		result = lappend(result, r);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * Appends the history row of a decision about a migration that migrate did
 * not run (action import, baseline or unregister): it is in state
 * a->state.  The row carries the registered checksum, since an import has
 * checked that the script is the one that ran (or that the other tool kept
 * no checksum).
 */
void
catalog_history_mark(const MigrationDef *m, HistoryAction action, const AdoptedAttempt *a,
					 Oid caller)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID,
	TEXTOID, TEXTOID, NAMEOID};
	Datum		values[9];
	char		nulls[9];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(history_action_name(action));
	values[2] = CStringGetTextDatum(migration_state_name(a->state));
	values[3] = text_or_null(a->role, &nulls[3]);
	values[4] = TimestampTzGetDatum(a->finished_at);
	nulls[4] = a->finished_at == 0 ? 'n' : ' ';
	values[5] = Float8GetDatum(a->duration_ms);
	nulls[5] = a->duration_ms < 0 ? 'n' : ' ';
	values[6] = text_or_null(a->error_message, &nulls[6]);
	values[7] = text_or_null(a->note, &nulls[7]);
	values[8] = CStringGetDatum(GetUserNameFromId(caller, false));

	SPI_connect();
	spi_exec("INSERT INTO migrate.history (version, name, action, state, checksum, steps_done, "
			 "  steps_total, role, started_at, finished_at, duration_ms, error_message, note) "
			 "SELECT m.version, m.name, $2, $3, m.checksum, 0, 0, coalesce($4, $9), "
			 "  coalesce($5, now()) - coalesce($6, 0) * interval '1 ms', coalesce($5, now()), "
			 "  $6, $7, $8 "
			 "FROM migrate.migrations m WHERE m.version = $1",
			 9, types, values, nulls, SPI_OK_INSERT);
	SPI_finish();
}

/*
 * Removes a registered migration that never ran: a mistaken registration,
 * or one whose file is gone.  One that ran in any way (applied, failed,
 * rolled back, imported, baselined) stays: its history refers to its
 * script.  The history keeps an unregister row naming who removed it.
 */
char *
catalog_unregister(const char *version, Oid caller)
{
	List	   *found = catalog_find(CATALOG_MATCH_VERSION, version);
	RegisteredMigration *r;
	char	   *who = GetUserNameFromId(caller, false);
	char	   *note;
	AdoptedAttempt a = {0};

	if (found == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s is not registered", version),
				 errhint("migrate_status() lists the registered migrations.")));
	r = linitial(found);
	catalog_check_owner(r->def.version, r->def.owner, caller, "unregister");
	if (r->latest.exists)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("migration %s cannot be unregistered: it is %s", r->def.version,
						migration_state_name(r->latest.state)),
				 errdetail("Only a migration that never ran may be unregistered; the history of one that ran refers to its script."),
				 r->latest.state == MIGRATION_APPLIED ?
				 errhint("Roll it back with migrate_rollback_to() if it should not be applied, and put the change in a new migration.") :
				 r->latest.state == MIGRATION_ROLLED_BACK ?
				 errhint("Leave it registered; a new migration with a version of its own can replace what it did.") :
				 errhint("Fix its script and apply it again, or after a manual fix mark it with migrate_resolve().")));

	note = psprintf("unregistered by %s; it never ran", who);
	a.state = MIGRATION_UNREGISTERED;
	a.duration_ms = -1;
	a.note = note;
	catalog_history_mark(&r->def, HISTORY_UNREGISTER, &a, caller);
	SPI_connect();
	spi_exec("DELETE FROM migrate.migrations WHERE version = $1", 1,
			 (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(r->def.version)}, NULL,
			 SPI_OK_DELETE);
	SPI_finish();
	return note;
}
