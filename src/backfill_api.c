/*-------------------------------------------------------------------------
 *
 * backfill_api.c
 *	  The SQL functions of backfills: submit, pause, resume, cancel, pace,
 *	  wait.
 *
 * These run as the caller (not SECURITY DEFINER): the submitted
 * expression is checked with the caller's search_path and privileges,
 * exactly as the worker will run it.  Only the writes to
 * migrate.backfill_jobs switch to the extension owner, inside a GUC nest
 * level so the caller's settings come back unchanged.
 *
 * A job row commits with the caller's transaction, so its worker is
 * queued at commit (an XactCallback): a worker started earlier could not
 * see the row, and one started for a rolled back submission would have
 * nothing to do.  If every job slot is taken at that moment the job stays
 * queued in the table and the next backfill worker of the database to
 * finish starts it (backfill_recover).
 *
 * src/backfill_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate/backfill.h"
#include "migrate/run_catalog.h"
#include "migrate/runner.h"
#include "migrate/settings.h"
#include "migrate/script.h"
#include "migrate/shared.h"
#include "migrate/worker.h"

PG_FUNCTION_INFO_V1(migrate_backfill);
PG_FUNCTION_INFO_V1(migrate_backfill_pause);
PG_FUNCTION_INFO_V1(migrate_backfill_resume);
PG_FUNCTION_INFO_V1(migrate_backfill_cancel);
PG_FUNCTION_INFO_V1(migrate_backfill_pace);
PG_FUNCTION_INFO_V1(migrate_backfill_wait);
PG_FUNCTION_INFO_V1(migrate_backfill_status);

/* A job to start, or a worker to wake, when this transaction commits. */
typedef struct PendingJob
{
	int64		id;
	bool		start;
	Oid			submitter;		/* the role its workers log in as */
} PendingJob;

static List *pending = NIL;

static void check_relation(Oid relid);
static Node *parse_one_expression(const char *sql, const char *text, const char *argname);
static void check_expression(const char *text, const char *argname);
static void check_statements(Oid relid, const char *column, const char *expression,
							 const char *where);
static void remember(int64 id, bool start, Oid submitter);
static void xact_callback(XactEvent event, void *arg);
static void start_pending(void);
static void update_job(FunctionCallInfo fcinfo, const char *fname, const char *from,
					   const char *set, int nargs, Oid *types, Datum *values,
					   const char *nulls, bool start, bool clear);
static void change_state(FunctionCallInfo fcinfo, const char *from, BackfillState to,
						 bool start, const char *fname);

/*
 * migrate_backfill(relation, column_name, expression, where_clause,
 * batch_size, max_rows_per_second): checks everything it can now, so that
 * bad input fails here and creates no job, then records the job.
 */
Datum
migrate_backfill(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column;
	char	   *expression;
	char	   *where = NULL;
	int			batch_size = 0;
	int			max_rps = 0;
	AttrNumber	attnum;
	CatalogUser user;
	int			nestlevel;
	float4		reltuples;
	int32		relpages;
	double		rows_per_block;
	int			initial;
	int64		id;
	bool		isnull;
	char	   *search_path = pstrdup(GetConfigOption("search_path", false, false));
	Oid			types[19] = {OIDOID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID,
	INT4OID, INT4OID, FLOAT8OID, INT8OID, NAMEOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID};
	Datum		values[19];
	char		nulls[19];

	memset(nulls, ' ', sizeof(nulls));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null",
						PG_ARGISNULL(0) ? "relation" : PG_ARGISNULL(1) ? "column_name" : "expression"),
				 errhint("Call migrate_backfill('table', 'column', 'expression').")));
	migrate_refuse_borrowed_rights("migrate_backfill()");
	migrate_worker_check_role(GetUserId(), "the backfill");
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	expression = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(3))
		where = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
	{
		batch_size = PG_GETARG_INT32(4);
		if (batch_size <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be positive, not %d", batch_size),
					 errhint("Pass the largest number of rows one batch may update, or NULL to let the batch size adapt up to migrate.backfill_max_batch_size.")));
	}
	if (!PG_ARGISNULL(5))
	{
		max_rps = PG_GETARG_INT32(5);
		if (max_rps <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_rows_per_second must be positive, not %d", max_rps),
					 errhint("Pass NULL for no rate cap.")));
	}
	migrate_require_shmem();
	/* one worker is kept for migration runs (launcher.c) */
	if (migrate_max_workers < 2)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("backfills cannot run when migrate.max_workers is 1"),
				 errdetail("The one worker is kept for migration runs, which a backfill must never hold up."),
				 errhint("Set migrate.max_workers to 2 or more and restart the server.")));

	(void) catalog_version_ok(ERROR);
	check_relation(relid);
	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column, get_rel_name(relid)),
				 errhint("Add the column first (ALTER TABLE ... ADD COLUMN), then backfill it.")));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot backfill system column \"%s\"", column),
				 errhint("Name a user column of the table.")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) != ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to backfill column \"%s\" of table \"%s\"", column, get_rel_name(relid)),
				 errdetail("The backfill runs as role \"%s\", which needs UPDATE on the column.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Ask the table's owner to GRANT UPDATE (%s) ON %s TO %s.",
						 quote_identifier(column), get_rel_name(relid),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
	check_expression(expression, "expression");
	if (where)
		check_expression(where, "where_clause");

	/*
	 * Prepare the very statements the worker will run (unknown names, type
	 * mismatches), and run the check over no block at all, which checks
	 * SELECT privileges on everything the expression reads.
	 */
	check_statements(relid, column, expression, where);

	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		relpages = ((Form_pg_class) GETSTRUCT(tup))->relpages;
		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
		ReleaseSysCache(tup);
	}
	rows_per_block = (relpages > 0 && reltuples > 0) ? reltuples / relpages : 50.0;
	if (batch_size > 0)
		initial = batch_size;
	else
		initial = Min(1000, migrate_backfill_max_batch_size);
	if (max_rps > 0)
		initial = Min(initial, max_rps);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															   get_rel_name(relid)));
	values[2] = PG_GETARG_DATUM(1);
	values[3] = CStringGetTextDatum(expression);
	values[4] = where ? CStringGetTextDatum(where) : (Datum) 0;
	nulls[4] = where ? ' ' : 'n';
	values[5] = Int32GetDatum(initial);
	values[6] = Int32GetDatum(batch_size > 0 ? batch_size : migrate_backfill_max_batch_size);
	values[7] = Int32GetDatum(max_rps);
	nulls[7] = max_rps > 0 ? ' ' : 'n';
	values[8] = Int32GetDatum(migrate_backfill_batch_ms);
	values[9] = Int32GetDatum(migrate_backfill_sleep_ms);
	values[10] = Float8GetDatum(rows_per_block);
	values[11] = Int64GetDatum((int64) Max(reltuples, 0));
	nulls[11] = reltuples >= 0 ? ' ' : 'n';
	values[12] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));
	values[13] = ObjectIdGetDatum(GetUserId());
	values[14] = CStringGetTextDatum(search_path);
	/* a backfill a migration's script starts belongs to that migration */
	if (migrate_runner_active && migrate_runner_context)
	{
		values[15] = CStringGetTextDatum(migrate_runner_context->slot->version);
		values[16] = CStringGetTextDatum(migrate_runner_context->rollback ? "rollback" : "apply");
		values[17] = Int64GetDatum(migrate_runner_context->run_id);
	}
	else
		nulls[15] = nulls[16] = nulls[17] = 'n';
	values[18] = Int32GetDatum(migrate_backfill_workers);

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	SPI_connect();
	if (SPI_execute_with_args("SELECT id FROM migrate.backfill_jobs "
							  "WHERE relid = $1 AND column_name = $2 "
							  "  AND state OPERATOR(pg_catalog.=) ANY ('{queued,running,paused}')",
							  2, (Oid[]) {OIDOID, NAMEOID}, (Datum[]) {values[0], values[2]},
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for other backfills");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("column \"%s\" of table \"%s\" already has an unfinished backfill", column, get_rel_name(relid)),
				 errdetail("Backfill job %s is not finished.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Wait for it with migrate_backfill_wait(), or cancel it with migrate_backfill_cancel() first.")));
	if (SPI_execute_with_args("INSERT INTO migrate.backfill_jobs (relid, relation, column_name, expression, "
							  "  where_clause, batch_size, max_batch_size, max_rows_per_second, batch_ms, sleep_ms, "
							  "  rows_per_block, rows_total_estimate, submitted_by, submitter, search_path, "
							  "  migration, migration_action, run_id, workers) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
							  "RETURNING id",
							  19, types, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record the backfill job");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);

	remember(id, true, GetUserId());
	PG_RETURN_INT64(id);
}

/*
 * Only plain tables of this database's sessions can be walked by a worker:
 * refuse the rest with the way out.
 */
static void
check_relation(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass the table's name, e.g. 'public.users'.")));
	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot backfill partitioned table \"%s\"", name),
				 errdetail("A backfill walks the blocks of one table, and a partitioned table has none of its own."),
				 errhint("Start one backfill per partition: SELECT migrate_backfill(relid, ...) FROM pg_partition_tree('%s') WHERE isleaf;",
						 name)));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errdetail("Backfills update the rows of a plain table; views, materialized views and foreign tables have none to update in place."),
				 errhint("Backfill the underlying table.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot backfill temporary table \"%s\"", name),
				 errdetail("The backfill runs in a background worker, which cannot see this session's temporary tables."),
				 errhint("Update a temporary table with a plain UPDATE.")));
	if (IsCatalogRelationOid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot backfill system catalog \"%s\"", name),
				 errhint("Backfill user tables only.")));
}

/*
 * Prepares the very statements the worker will run (unknown names, type
 * mismatches) and runs the check over no block at all, which checks the
 * SELECT privileges on everything the expression reads.  Errors are
 * re-raised without their position, which would point into our statement
 * rather than the caller's text.
 */
static void
check_statements(Oid relid, const char *column, const char *expression, const char *where)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;
	char	   *batch_sql;
	char	   *check_sql;
	Datum		empty[3];
	ItemPointerData zero;

	/*
	 * In a subtransaction, so that after an arbitrary error everything is
	 * rolled back before the catalog is read again for the message.
	 */
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		backfill_build_sql(relid, column, expression, where, NULL, &batch_sql, &check_sql);
		SPI_connect();
		if (SPI_prepare(batch_sql, 2, (Oid[]) {TIDOID, TIDOID}) == NULL)
			elog(ERROR, "could not prepare the backfill batch: %s", SPI_result_code_string(SPI_result));
		ItemPointerSet(&zero, 0, 0);
		empty[0] = empty[1] = PointerGetDatum(&zero);
		empty[2] = PointerGetDatum(construct_empty_array(XIDOID));
		if (SPI_execute_with_args(check_sql, 3, (Oid[]) {TIDOID, TIDOID, XIDARRAYOID}, empty,
								  NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not run the backfill check");
		SPI_finish();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (edata)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("cannot backfill %s.%s: %s", get_rel_name(relid), column, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("%s", edata->hint ? edata->hint :
						 "The job runs UPDATE table SET column = expression WHERE where_clause, as you; check the names, types and privileges it uses.")));
}

/*
 * The expression and the where clause are pasted into the worker's
 * statements, so each must be exactly one expression: parsed as
 * "SELECT (text)" it must give a bare one-column SELECT, and it must not
 * use $n parameters, which would bind to the worker's own.
 */
static Node *
parse_one_expression(const char *sql, const char *text, const char *argname)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *raw = NIL;
	SelectStmt *sel;
	ResTarget  *target;

	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid backfill %s: %s", argname, edata->message),
				 errdetail("The %s was: %s", argname, text),
				 errhint("Pass one SQL expression, such as lower(email) or (SELECT id FROM users WHERE users.name = posts.author_name).")));
	}
	PG_END_TRY();

	sel = list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt) ?
		(SelectStmt *) linitial_node(RawStmt, raw)->stmt : NULL;
	target = sel && list_length(sel->targetList) == 1 ?
		linitial_node(ResTarget, sel->targetList) : NULL;
	if (target == NULL || target->name || sel->fromClause || sel->whereClause ||
		sel->groupClause || sel->havingClause || sel->windowClause || sel->sortClause ||
		sel->limitCount || sel->limitOffset || sel->lockingClause || sel->withClause ||
		sel->distinctClause || sel->valuesLists || sel->intoClause || sel->op != SETOP_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("backfill %s is not a single expression", argname),
				 errdetail("The %s was: %s", argname, text),
				 errhint("Pass one SQL expression; use a scalar subquery in parentheses to read other tables.")));
	return target->val;
}

/*
 * The worker puts the text in parentheses, followed by a newline, inside
 * its batch statement (backfill_build_sql).  It must be one expression
 * there and mean there what it means alone: parsed alone and parenthesised,
 * both are one expression and the same tree (equal() ignores locations),
 * so text such as "true) OR (1=1", which is one expression only once
 * wrapped, or one that ends in a comment, is refused.
 */
static void
check_expression(const char *text, const char *argname)
{
	Node	   *alone = parse_one_expression(psprintf("SELECT %s", text), text, argname);
	Node	   *wrapped = parse_one_expression(psprintf("SELECT (%s\n)", text), text, argname);

	if (!equal(alone, wrapped))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("backfill %s is not a single expression", argname),
				 errdetail("The %s was: %s", argname, text),
				 errhint("Pass one SQL expression with balanced parentheses.")));
	if (script_has_param(alone, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("backfill %s must not use parameters ($n)", argname),
				 errhint("Write the values into the expression.")));
}

/*
 * Remembers a job to start or a worker to wake when the transaction
 * commits.  The list lives in TopMemoryContext and is dropped at the end of
 * the transaction either way.
 */
static void
remember(int64 id, bool start, Oid submitter)
{
	static bool registered = false;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	PendingJob *p = palloc(sizeof(PendingJob));

	p->id = id;
	p->start = start;
	p->submitter = submitter;
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		registered = true;
	}
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that submitted or changed a backfill"),
						 errhint("Call migrate_backfill() and its control functions in ordinary transactions.")));
			break;
		case XACT_EVENT_COMMIT:
			if (pending != NIL)
				start_pending();
			list_free_deep(pending);
			pending = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			list_free_deep(pending);
			pending = NIL;
			break;
		default:
			break;
	}
}

/*
 * At commit: queues a worker for each job to start that has none, and
 * wakes the worker of each job that has one, so that it sees the new state
 * (pause, cancel) at once instead of after its sleep.
 */
static void
start_pending(void)
{
	ListCell   *lc;
	pid_t		wake[MIGRATE_MAX_SLOTS];
	int			nwake = 0;
	bool		queued = false;
	int			i;

	LWLockAcquire(MigrateState->lock, LW_EXCLUSIVE);
	foreach(lc, pending)
	{
		PendingJob *p = lfirst(lc);
		int			found = -1;

		for (i = 0; i < MIGRATE_MAX_SLOTS; i++)
		{
			if (migrate_slot_has_backfill(&MigrateState->slots[i], p->id))
				found = i;
		}
		if (found >= 0)
		{
			if (MigrateState->slots[found].worker_pid != 0 && nwake < MIGRATE_MAX_SLOTS)
				wake[nwake++] = MigrateState->slots[found].worker_pid;
			continue;
		}
		if (!p->start)
			continue;
		i = migrate_slot_alloc(MIGRATE_JOB_BACKFILL, MyDatabaseId);
		if (i < 0)
		{
			ereport(WARNING,
					(errmsg("migrate: every job slot is taken; backfill job " INT64_FORMAT " starts when a running backfill finishes",
							p->id)));
			continue;
		}
		MigrateState->slots[i].job_id = p->id;
		MigrateState->slots[i].role = p->submitter;
		queued = true;
	}
	LWLockRelease(MigrateState->lock);

	for (i = 0; i < nwake; i++)
	{
		PGPROC	   *proc = BackendPidGetProc(wake[i]);

		if (proc)
			SetLatch(&proc->procLatch);
	}
	if (queued)
		migrate_wake_launcher();
}

/*
 * Runs "UPDATE migrate.backfill_jobs SET <set>" on the job whose id is the
 * first argument ($1), if it is in one of the states in "from" (a text[]
 * literal, $2) and the caller acts for the role that submitted it; the
 * caller fills values from $3 on.  At commit the job's worker is woken, or
 * a worker started for it when "start" is set.  "clear": the job is being
 * cancelled, its ranges and batch transactions go.
 */
static void
update_job(FunctionCallInfo fcinfo, const char *fname, const char *from, const char *set,
		   int nargs, Oid *types, Datum *values, const char *nulls, bool start,
		   bool clear)
{
	int64		id;
	CatalogUser user;
	int			nestlevel;
	char	   *state;
	char	   *submitted_by;
	Oid			submitter;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null"),
				 errhint("Pass the job id migrate_backfill() returned; migrate_backfill_status() lists them.")));
	id = PG_GETARG_INT64(0);
	migrate_require_shmem();
	types[0] = INT8OID;
	values[0] = Int64GetDatum(id);
	types[1] = TEXTOID;
	values[1] = CStringGetTextDatum(from);

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	SPI_connect();
	if (SPI_execute_with_args("SELECT state, submitted_by, submitter FROM migrate.backfill_jobs WHERE id = $1 FOR UPDATE",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backfill job " INT64_FORMAT " does not exist", id),
				 errhint("migrate_backfill_status() lists the backfill jobs.")));
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	submitted_by = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	submitter = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull || !has_privs_of_role(user.userid, submitter))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change backfill job " INT64_FORMAT, id),
				 errdetail("The job was submitted by role \"%s\".", submitted_by),
				 errhint("Call %s as that role, a member of it, or a superuser.", fname)));
	if (SPI_execute_with_args(psprintf("UPDATE migrate.backfill_jobs SET %s "
									   "WHERE id = $1 AND state OPERATOR(pg_catalog.=) ANY ($2::text[])", set),
							  nargs, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not change backfill job " INT64_FORMAT, id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " is %s", id, state),
				 errhint("%s works on jobs that are %s.", fname, from)));
	if (clear)
		backfill_clear_cancelled(id);
	SPI_finish();
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	remember(id, start, submitter);
}

/* Moves a job from one of the states in "from" to "to". */
static void
change_state(FunctionCallInfo fcinfo, const char *from, BackfillState to, bool start,
			 const char *fname)
{
	Oid			types[3] = {InvalidOid, InvalidOid, TEXTOID};
	Datum		values[3] = {0, 0, CStringGetTextDatum(backfill_state_name(to))};

	update_job(fcinfo, fname, from,
			   "state = $3, "
			   "finished_at = CASE WHEN $3 = 'cancelled' THEN pg_catalog.clock_timestamp() "
			   "                   WHEN $3 = 'queued' THEN NULL ELSE finished_at END, "
			   "last_error = CASE WHEN $3 = 'queued' THEN NULL ELSE last_error END, "
			   "held_reason = NULL",
			   3, types, values, NULL, start, to == BACKFILL_CANCELLED);
}

/* migrate_backfill_pause(id): the worker stops after its current batch. */
Datum
migrate_backfill_pause(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, "{queued,running}", BACKFILL_PAUSED, false, "migrate_backfill_pause()");
	PG_RETURN_VOID();
}

/* migrate_backfill_resume(id): a paused or failed job goes on where it stopped. */
Datum
migrate_backfill_resume(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, "{paused,failed}", BACKFILL_QUEUED, true, "migrate_backfill_resume()");
	PG_RETURN_VOID();
}

/* migrate_backfill_cancel(id): stops for good; the batches done stay done. */
Datum
migrate_backfill_cancel(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, "{queued,running,paused}", BACKFILL_CANCELLED, false, "migrate_backfill_cancel()");
	PG_RETURN_VOID();
}

/*
 * migrate_backfill_pace(id, sleep_ms, max_rows_per_second, workers):
 * changes the pause between batches, the rate cap (0: none) and the number
 * of workers of an unfinished job; NULL keeps one.  Its worker is woken at
 * commit and takes them before its next batch: it starts the workers
 * added, and those above the number leave.
 */
Datum
migrate_backfill_pace(PG_FUNCTION_ARGS)
{
	/* the 1.2 catalog's function has no workers argument */
	bool		no_workers = PG_NARGS() < 4 || PG_ARGISNULL(3);
	Oid			types[5] = {InvalidOid, InvalidOid, INT4OID, INT4OID, INT4OID};
	Datum		values[5] = {0, 0, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
							 no_workers ? (Datum) 0 : PG_GETARG_DATUM(3)};
	char		nulls[5] = {' ', ' ', PG_ARGISNULL(1) ? 'n' : ' ', PG_ARGISNULL(2) ? 'n' : ' ',
							no_workers ? 'n' : ' '};

	if (PG_ARGISNULL(1) && PG_ARGISNULL(2) && no_workers)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sleep_ms, max_rows_per_second and workers must not all be null"),
				 errhint("Pass the new pause between batches, the new rate cap, the new number of workers, or several.")));
	if (!no_workers && (PG_GETARG_INT32(3) < 1 || PG_GETARG_INT32(3) > MIGRATE_BACKFILL_MAX_WORKERS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("workers must be between 1 and %d, not %d",
						MIGRATE_BACKFILL_MAX_WORKERS, PG_GETARG_INT32(3)),
				 errhint("Pass how many workers should run the job; each counts against migrate.max_workers.")));
	if (!PG_ARGISNULL(1) && (PG_GETARG_INT32(1) < 0 || PG_GETARG_INT32(1) > MIGRATE_BACKFILL_MAX_SLEEP_MS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sleep_ms must be between 0 and %d, not %d",
						MIGRATE_BACKFILL_MAX_SLEEP_MS, PG_GETARG_INT32(1)),
				 errhint("Pass the pause between batches in milliseconds; 0 runs them back to back.")));
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows_per_second must not be negative, not %d", PG_GETARG_INT32(2)),
				 errhint("Pass the rows per second the job may not exceed, or 0 for no cap.")));
	update_job(fcinfo, "migrate_backfill_pace()", "{queued,running,paused}",
			   "sleep_ms = coalesce($3, sleep_ms), "
			   "max_rows_per_second = CASE WHEN $4 IS NULL THEN max_rows_per_second "
			   "                           WHEN $4 > 0 THEN $4 END, "
			   "workers = coalesce($5, workers)",
			   5, types, values, nulls, false, false);
	PG_RETURN_VOID();
}

/*
 * Whether a worker process is on the job.  A slot still waiting for a
 * process does not count: its worker will find the job paused or over and
 * leave without touching it, and with migrate.max_workers busy it can wait
 * for hours.
 */
static bool
has_worker(int64 id)
{
	bool		found = false;
	int			i;

	LWLockAcquire(MigrateState->lock, LW_SHARED);
	for (i = 0; i < MIGRATE_MAX_SLOTS && !found; i++)
		found = MigrateState->slots[i].state == MIGRATE_SLOT_RUNNING &&
			migrate_slot_has_backfill(&MigrateState->slots[i], id);
	LWLockRelease(MigrateState->lock);
	return found;
}

/*
 * migrate_backfill_wait(id, timeout): waits until the job is no longer
 * queued or running and no worker is on it any more (a paused or cancelled
 * job's worker finishes its batch first), and returns its state; a failed
 * job raises its error.
 *
 * Batches skip locked rows and the final check takes no row locks, so the
 * worker never waits for this transaction's snapshot.  What it cannot get
 * past is a row this transaction has locked or changed, so a transaction
 * that has written anything is refused.  The job is re-read with the
 * latest snapshot each time, as a function's own snapshot would not move.
 */
Datum
migrate_backfill_wait(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		id;
	TimestampTz deadline = 0;
	CatalogUser user;
	int			nestlevel;
	SPIPlanPtr	plan;
	Datum		args[1];
	BackfillState state;
	char	   *error = NULL;
	bool		isnull;
	char	   *error_owner = NULL; /* the submitter, when the caller may not see the error */

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null"),
				 errhint("Pass the job id migrate_backfill() returned.")));
	id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(id);
	if (!PG_ARGISNULL(1))
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   PG_GETARG_DATUM(1)));
	migrate_require_shmem();
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("migrate_backfill_wait() cannot run in a transaction that has written to the database"),
				 errdetail("The backfill cannot see this transaction's uncommitted changes (the job itself, if it was submitted here) and skips the rows it has locked until it ends."),
				 errhint("Commit first, then wait in a transaction of its own.")));

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	SPI_connect();
	plan = SPI_prepare("SELECT state, last_error, submitted_by, submitter FROM migrate.backfill_jobs WHERE id = $1",
					   1, (Oid[]) {INT8OID});
	if (plan == NULL)
		elog(ERROR, "could not prepare the backfill wait");
	/* prepared before the first read, so that no broadcast can be missed */
	ConditionVariablePrepareToSleep(&MigrateState->backfill_cv);
	for (;;)
	{
		if (SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
								 true, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read backfill job " INT64_FORMAT, id);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backfill job " INT64_FORMAT " does not exist", id),
					 errhint("migrate_backfill_status() lists the backfill jobs.")));
		state = backfill_state_parse(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		if (state != BACKFILL_QUEUED && state != BACKFILL_RUNNING && !has_worker(id))
		{
			/* out of SPI's memory, which SPI_finish frees */
			error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			error_owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
			error = error ? MemoryContextStrdup(cxt, error) : NULL;
			/* the error is the submitter's to see, as in the status */
			if (!has_privs_of_role(user.userid,
								   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																  SPI_tuptable->tupdesc, 4,
																  &isnull))))
			{
				error_owner = MemoryContextStrdup(cxt, error_owner);
				error = NULL;
			}
			else
				error_owner = NULL;
			break;
		}
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for backfill job " INT64_FORMAT, id),
					 errdetail("The job is %s.", backfill_state_name(state)),
					 errhint("The job goes on in the background; migrate_backfill_status() shows its progress.")));
		/* a wait of hours reads the job ten times a second */
		SPI_freetuptable(SPI_tuptable);
		/* a worker that dies without broadcasting is noticed by the timeout */
		(void) ConditionVariableTimedSleep(&MigrateState->backfill_cv, 100L, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	SPI_finish();
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);

	if (state == BACKFILL_FAILED && error_owner)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " failed", id),
				 errdetail("Its error is shown to role \"%s\", which submitted it, members of it and superusers.",
						   error_owner)));
	if (state == BACKFILL_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " failed: %s", id, error ? error : "see the server log"),
				 errhint("Fix the cause, then continue it with migrate_backfill_resume(" INT64_FORMAT ").", id)));
	PG_RETURN_TEXT_P(cstring_to_text(backfill_state_name(state)));
}

/*
 * migrate_backfill_status(id): the progress of every job (or one).  Not
 * SECURITY DEFINER, so that the caller is known: a job's last error is
 * shown only to its submitter, members of it and superusers (it can quote
 * the rows and values the expression read).
 */
Datum
migrate_backfill_status(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {OIDOID, INT8OID};
	Datum		values[2] = {ObjectIdGetDatum(GetUserId()), PG_GETARG_DATUM(0)};
	char		nulls[2] = {' ', PG_ARGISNULL(0) ? 'n' : ' '};

	catalog_rows_for_caller(fcinfo, "SELECT * FROM migrate.backfill_status_rows($1, $2)",
							2, types, values, nulls);
	return (Datum) 0;
}
