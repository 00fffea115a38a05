/*-------------------------------------------------------------------------
 *
 * backfill_api.c
 *	  The SQL functions of backfills: submit, pause, resume, cancel, pace,
 *	  wait.
 *
 * These run as the caller (not SECURITY DEFINER): the submitted
 * expression is checked with the caller's search_path and privileges,
 * exactly as the worker will run it (check_statements prepares the
 * engine's statements over the user's table, the only SQL here).  The
 * job's row is read and written by backfill_catalog.c; only those calls
 * switch to the extension owner, inside a GUC nest level so the caller's
 * settings come back unchanged.  What is checked here, and who may change
 * a job, is this file's.
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
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "migrate/backfill.h"
#include "migrate/backfill_catalog.h"
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

/* The states of a job that is not finished. */
#define UNFINISHED (BACKFILL_STATE_BIT(BACKFILL_QUEUED) | \
					BACKFILL_STATE_BIT(BACKFILL_RUNNING) | \
					BACKFILL_STATE_BIT(BACKFILL_PAUSED))

static void check_relation(Oid relid);
static Node *parse_one_expression(const char *sql, const char *text, const char *argname);
static void check_expression(const char *text, const char *argname);
static void check_statements(Oid relid, const char *column, const char *expression,
							 const char *where);
static void remember(int64 id, bool start, Oid submitter);
static void xact_callback(XactEvent event, void *arg);
static void start_pending(void);
static void update_job(FunctionCallInfo fcinfo, const char *fname,
					   const BackfillChange *change, bool start);
static void change_state(FunctionCallInfo fcinfo, int from, BackfillState to,
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
	char	   *search_path = pstrdup(GetConfigOption("search_path", false, false));
	BackfillJobDef def;

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

	def.relid = relid;
	def.relation = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid));
	def.column_name = column;
	def.expression = expression;
	def.where_clause = where;
	def.batch_size = initial;
	def.max_batch_size = batch_size > 0 ? batch_size : migrate_backfill_max_batch_size;
	def.max_rows_per_second = max_rps;
	def.batch_ms = migrate_backfill_batch_ms;
	def.sleep_ms = migrate_backfill_sleep_ms;
	def.workers = migrate_backfill_workers;
	def.rows_per_block = rows_per_block;
	def.rows_total_estimate = reltuples >= 0 ? (int64) reltuples : -1;
	def.submitter = GetUserId();
	def.submitted_by = GetUserNameFromId(GetUserId(), false);
	def.search_path = search_path;
	/* a backfill a migration's script starts belongs to that migration */
	def.migration = NULL;
	def.migration_action = HISTORY_APPLY;
	def.run_id = 0;
	if (migrate_runner_active && migrate_runner_context)
	{
		def.migration = pstrdup(migrate_runner_context->slot->version);
		def.migration_action = migrate_runner_context->rollback ? HISTORY_ROLLBACK : HISTORY_APPLY;
		def.run_id = migrate_runner_context->run_id;
	}

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	if (backfill_catalog_unfinished_job(relid, column, &id))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("column \"%s\" of table \"%s\" already has an unfinished backfill", column, get_rel_name(relid)),
				 errdetail("Backfill job " INT64_FORMAT " is not finished.", id),
				 errhint("Wait for it with migrate_backfill_wait(), or cancel it with migrate_backfill_cancel() first.")));
	id = backfill_catalog_insert_job(&def);
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
 * Applies the change to the job whose id is the first argument, if it is
 * in one of the change's states and the caller acts for the role that
 * submitted it.  At commit the job's worker is woken, or a worker started
 * for it when "start" is set.  A job being cancelled loses its ranges and
 * batch transactions.
 */
static void
update_job(FunctionCallInfo fcinfo, const char *fname, const BackfillChange *change,
		   bool start)
{
	int64		id;
	CatalogUser user;
	int			nestlevel;
	BackfillJobStatus job;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null"),
				 errhint("Pass the job id migrate_backfill() returned; migrate_backfill_status() lists them.")));
	id = PG_GETARG_INT64(0);
	migrate_require_shmem();

	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	if (!backfill_catalog_lock_job(id, &job))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backfill job " INT64_FORMAT " does not exist", id),
				 errhint("migrate_backfill_status() lists the backfill jobs.")));
	if (!OidIsValid(job.submitter) || !has_privs_of_role(user.userid, job.submitter))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change backfill job " INT64_FORMAT, id),
				 errdetail("The job was submitted by role \"%s\".", job.submitted_by),
				 errhint("Call %s as that role, a member of it, or a superuser.", fname)));
	if (!backfill_catalog_change_job(id, change))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " is %s", id, backfill_state_name(job.state)),
				 errhint("%s works on jobs that are %s.", fname, backfill_state_set_literal(change->from))));
	if (change->set_state && change->state == BACKFILL_CANCELLED)
		backfill_catalog_clear_cancelled(id);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	remember(id, start, job.submitter);
}

/* Moves a job from one of the states in "from" to "to". */
static void
change_state(FunctionCallInfo fcinfo, int from, BackfillState to, bool start,
			 const char *fname)
{
	BackfillChange change = {.from = from, .set_state = true, .state = to};

	update_job(fcinfo, fname, &change, start);
}

/* migrate_backfill_pause(id): the worker stops after its current batch. */
Datum
migrate_backfill_pause(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, BACKFILL_STATE_BIT(BACKFILL_QUEUED) | BACKFILL_STATE_BIT(BACKFILL_RUNNING),
				 BACKFILL_PAUSED, false, "migrate_backfill_pause()");
	PG_RETURN_VOID();
}

/* migrate_backfill_resume(id): a paused or failed job goes on where it stopped. */
Datum
migrate_backfill_resume(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, BACKFILL_STATE_BIT(BACKFILL_PAUSED) | BACKFILL_STATE_BIT(BACKFILL_FAILED),
				 BACKFILL_QUEUED, true, "migrate_backfill_resume()");
	PG_RETURN_VOID();
}

/* migrate_backfill_cancel(id): stops for good; the batches done stay done. */
Datum
migrate_backfill_cancel(PG_FUNCTION_ARGS)
{
	change_state(fcinfo, UNFINISHED, BACKFILL_CANCELLED, false, "migrate_backfill_cancel()");
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
	BackfillChange change = {.from = UNFINISHED, .set_state = false};

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
	change.sleep_ms = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	change.max_rows_per_second = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
	change.workers = no_workers ? 0 : PG_GETARG_INT32(3);
	update_job(fcinfo, "migrate_backfill_pace()", &change, false);
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
	int64		id;
	TimestampTz deadline = 0;
	CatalogUser user;
	int			nestlevel;
	BackfillJobStatus job;
	bool		may_see_error;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("id must not be null"),
				 errhint("Pass the job id migrate_backfill() returned.")));
	id = PG_GETARG_INT64(0);
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
	/* prepared before the first read, so that no broadcast can be missed */
	ConditionVariablePrepareToSleep(&MigrateState->backfill_cv);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!backfill_catalog_poll_job(id, &job))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("backfill job " INT64_FORMAT " does not exist", id),
					 errhint("migrate_backfill_status() lists the backfill jobs.")));
		if (job.state != BACKFILL_QUEUED && job.state != BACKFILL_RUNNING && !has_worker(id))
			break;
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for backfill job " INT64_FORMAT, id),
					 errdetail("The job is %s.", backfill_state_name(job.state)),
					 errhint("The job goes on in the background; migrate_backfill_status() shows its progress.")));
		/* a wait of hours reads the job ten times a second: free each read */
		if (job.submitted_by)
			pfree(job.submitted_by);
		if (job.last_error)
			pfree(job.last_error);
		/* a worker that dies without broadcasting is noticed by the timeout */
		(void) ConditionVariableTimedSleep(&MigrateState->backfill_cv, 100L, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	/* the error is the submitter's to see, as in the status */
	may_see_error = has_privs_of_role(user.userid, job.submitter);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);

	if (job.state == BACKFILL_FAILED && !may_see_error)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " failed", id),
				 errdetail("Its error is shown to role \"%s\", which submitted it, members of it and superusers.",
						   job.submitted_by)));
	if (job.state == BACKFILL_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill job " INT64_FORMAT " failed: %s", id,
						job.last_error ? job.last_error : "see the server log"),
				 errhint("Fix the cause, then continue it with migrate_backfill_resume(" INT64_FORMAT ").", id)));
	PG_RETURN_TEXT_P(cstring_to_text(backfill_state_name(job.state)));
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
	backfill_catalog_status_rows(fcinfo, GetUserId(), !PG_ARGISNULL(0),
								 PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0));
	return (Datum) 0;
}
