/*-------------------------------------------------------------------------
 *
 * backfill_catalog.c
 *	  The only C file that reads and writes migrate.backfill_jobs,
 *	  migrate.backfill_ranges and migrate.backfill_batches (the SQL
 *	  functions of the extension script read them too: the status rows).
 *	  The statements that touch the user's table are the engine's
 *	  (backfill.c); the run tables are run_catalog.c's.
 *
 * The transaction is always the caller's: it decides what commits
 * together (a batch's claim of a range and its progress commit with the
 * batch's rows, see backfill.c).  The caller also switches to the
 * extension owner and back around each call (catalog_become_owner, or
 * catalog_xact_begin/catalog_xact_commit for a transaction of its own),
 * never around user code; backfill_catalog_status_rows is the exception,
 * catalog_rows_for_caller switches itself.  Each function connects to SPI
 * itself, nested in the caller's connection if there is one.
 *
 * The statements a process runs again and again (a batch's claim and
 * progress, a wait's poll) are prepared once per process
 * (catalog_keep_plan) under the owner's search_path, which is the one they
 * always run under.
 *
 * src/backfill_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "migrate/backfill_catalog.h"
#include "migrate/run_catalog.h"

static void spi_begin(void);
static void spi_end(void);
static char *text_col(HeapTuple tup, TupleDesc desc, int colno);
static HeapTuple job_row(int rc, int expected, int64 id, TupleDesc *desc);
static Datum name_datum(const char *s);
static bool job_status_result(int rc, int64 id, BackfillJobStatus *status, bool with_error);

static void
spi_begin(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "could not connect to SPI for the backfill tables");
}

static void
spi_end(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "could not disconnect from SPI after the backfill tables");
}

/* A column of an SPI row as a string in the caller's context, or NULL. */
static char *
text_col(HeapTuple tup, TupleDesc desc, int colno)
{
	char	   *v = SPI_getvalue(tup, desc, colno);

	if (v == NULL)
		return NULL;
	/* SPI_palloc allocates in the context SPI_connect was called in */
	return strcpy(SPI_palloc(strlen(v) + 1), v);
}

/* A name parameter: a NAMEDATALEN buffer, as the type's functions read it. */
static Datum
name_datum(const char *s)
{
	Name		n = (Name) palloc0(NAMEDATALEN);

	namestrcpy(n, s);
	return NameGetDatum(n);
}

/*
 * The job's row in the last SPI result, or NULL if there is none; rc is
 * the statement's result, expected what it must be.
 */
static HeapTuple
job_row(int rc, int expected, int64 id, TupleDesc *desc)
{
	if (rc != expected)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, id);
	*desc = SPI_tuptable->tupdesc;
	return SPI_processed > 0 ? SPI_tuptable->vals[0] : NULL;
}

/*
 * Whether column_name of relid has a job that is not finished (queued,
 * running or paused), and which one in *id.
 */
bool
backfill_catalog_unfinished_job(Oid relid, const char *column_name, int64 *id)
{
	Datum		values[2] = {ObjectIdGetDatum(relid), name_datum(column_name)};
	bool		found;

	spi_begin();
	if (SPI_execute_with_args("SELECT id FROM migrate.backfill_jobs "
							  "WHERE relid = $1 AND column_name = $2 "
							  "  AND state OPERATOR(pg_catalog.=) ANY ('{queued,running,paused}')",
							  2, (Oid[]) {OIDOID, NAMEOID}, values,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for other backfills");
	found = SPI_processed > 0;
	if (found)
	{
		bool		isnull;

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	spi_end();
	return found;
}

/* Records a new job, queued; returns its id. */
int64
backfill_catalog_insert_job(const BackfillJobDef *def)
{
	Oid			types[19] = {OIDOID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID,
	INT4OID, INT4OID, FLOAT8OID, INT8OID, NAMEOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID};
	Datum		values[19];
	char		nulls[19];
	bool		isnull;
	int64		id;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = ObjectIdGetDatum(def->relid);
	values[1] = CStringGetTextDatum(def->relation);
	values[2] = name_datum(def->column_name);
	values[3] = CStringGetTextDatum(def->expression);
	values[4] = def->where_clause ? CStringGetTextDatum(def->where_clause) : (Datum) 0;
	nulls[4] = def->where_clause ? ' ' : 'n';
	values[5] = Int32GetDatum(def->batch_size);
	values[6] = Int32GetDatum(def->max_batch_size);
	values[7] = Int32GetDatum(def->max_rows_per_second);
	nulls[7] = def->max_rows_per_second > 0 ? ' ' : 'n';
	values[8] = Int32GetDatum(def->batch_ms);
	values[9] = Int32GetDatum(def->sleep_ms);
	values[10] = Float8GetDatum(def->rows_per_block);
	values[11] = Int64GetDatum(def->rows_total_estimate);
	nulls[11] = def->rows_total_estimate >= 0 ? ' ' : 'n';
	values[12] = name_datum(def->submitted_by);
	values[13] = ObjectIdGetDatum(def->submitter);
	values[14] = CStringGetTextDatum(def->search_path);
	if (def->migration)
	{
		values[15] = CStringGetTextDatum(def->migration);
		values[16] = CStringGetTextDatum(history_action_name(def->migration_action));
		values[17] = Int64GetDatum(def->run_id);
	}
	else
		nulls[15] = nulls[16] = nulls[17] = 'n';
	values[18] = Int32GetDatum(def->workers);

	spi_begin();
	if (SPI_execute_with_args("INSERT INTO migrate.backfill_jobs (relid, relation, column_name, expression, "
							  "  where_clause, batch_size, max_batch_size, max_rows_per_second, batch_ms, sleep_ms, "
							  "  rows_per_block, rows_total_estimate, submitted_by, submitter, search_path, "
							  "  migration, migration_action, run_id, workers) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
							  "RETURNING id",
							  19, types, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not record the backfill job");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	spi_end();
	return id;
}

/*
 * Ends the read of a job's row by backfill_catalog_lock_job or _poll_job
 * (rc is the statement's result; its columns are state, submitted_by,
 * submitter[, last_error]): fills status and disconnects.  False if there
 * is no such job.
 */
static bool
job_status_result(int rc, int64 id, BackfillJobStatus *status, bool with_error)
{
	TupleDesc	desc;
	HeapTuple	tup = job_row(rc, SPI_OK_SELECT, id, &desc);

	if (tup)
	{
		bool		isnull;
		Datum		submitter;

		status->state = backfill_state_parse(SPI_getvalue(tup, desc, 1));
		status->submitted_by = text_col(tup, desc, 2);
		submitter = SPI_getbinval(tup, desc, 3, &isnull);
		status->submitter = isnull ? InvalidOid : DatumGetObjectId(submitter);
		status->last_error = with_error ? text_col(tup, desc, 4) : NULL;
	}
	spi_end();
	return tup != NULL;
}

/*
 * Locks the job's row for a change (FOR UPDATE, until the caller's
 * transaction ends) and reads it.  False if there is no such job.
 */
bool
backfill_catalog_lock_job(int64 id, BackfillJobStatus *status)
{
	int			rc;

	spi_begin();
	rc = SPI_execute_with_args("SELECT state, submitted_by, submitter "
							   "FROM migrate.backfill_jobs WHERE id = $1 FOR UPDATE",
							   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							   NULL, false, 0);
	return job_status_result(rc, id, status, false);
}

/*
 * Applies a change to the job if it is in one of the change's states.
 * False if it is not (nothing changed).  The caller holds the row
 * (backfill_catalog_lock_job).
 */
bool
backfill_catalog_change_job(int64 id, const BackfillChange *change)
{
	Oid			types[5] = {INT8OID, TEXTOID, InvalidOid, INT4OID, INT4OID};
	Datum		values[5] = {Int64GetDatum(id),
	CStringGetTextDatum(backfill_state_set_literal(change->from))};
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	const char *sql;
	int			nargs;
	bool		changed;

	if (change->set_state)
	{
		types[2] = TEXTOID;
		values[2] = CStringGetTextDatum(backfill_state_name(change->state));
		nargs = 3;
		sql = "UPDATE migrate.backfill_jobs "
			"SET state = $3, "
			"finished_at = CASE WHEN $3 = 'cancelled' THEN pg_catalog.clock_timestamp() "
			"                   WHEN $3 = 'queued' THEN NULL ELSE finished_at END, "
			"last_error = CASE WHEN $3 = 'queued' THEN NULL ELSE last_error END, "
			"held_reason = NULL "
			"WHERE id = $1 AND state OPERATOR(pg_catalog.=) ANY ($2::text[])";
	}
	else
	{
		types[2] = INT4OID;
		values[2] = Int32GetDatum(change->sleep_ms);
		nulls[2] = change->sleep_ms < 0 ? 'n' : ' ';
		values[3] = Int32GetDatum(change->max_rows_per_second);
		nulls[3] = change->max_rows_per_second < 0 ? 'n' : ' ';
		values[4] = Int32GetDatum(change->workers);
		nulls[4] = change->workers == 0 ? 'n' : ' ';
		nargs = 5;
		sql = "UPDATE migrate.backfill_jobs "
			"SET sleep_ms = coalesce($3, sleep_ms), "
			"max_rows_per_second = CASE WHEN $4 IS NULL THEN max_rows_per_second "
			"                           WHEN $4 > 0 THEN $4 END, "
			"workers = coalesce($5, workers) "
			"WHERE id = $1 AND state OPERATOR(pg_catalog.=) ANY ($2::text[])";
	}

	spi_begin();
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not change backfill job " INT64_FORMAT, id);
	changed = SPI_processed > 0;
	spi_end();
	return changed;
}

/*
 * Reads the job's state and error with the latest snapshot, for a wait
 * that polls it within one transaction (the transaction's snapshot would
 * not move under REPEATABLE READ).  False if there is no such job.
 */
bool
backfill_catalog_poll_job(int64 id, BackfillJobStatus *status)
{
	static SPIPlanPtr plan = NULL;
	int			rc;

	spi_begin();
	rc = SPI_execute_snapshot(catalog_keep_plan(&plan,
												"SELECT state, submitted_by, submitter, last_error "
												"FROM migrate.backfill_jobs WHERE id = $1",
												1, (Oid[]) {INT8OID}),
							  (Datum[]) {Int64GetDatum(id)}, NULL,
							  GetLatestSnapshot(), InvalidSnapshot, true, false, 0);
	return job_status_result(rc, id, status, true);
}

/*
 * The result rows of migrate_backfill_status(): every job, or only job id
 * (one), with the last error blanked unless caller may see it.  Switches
 * to the extension owner itself (catalog_rows_for_caller).
 */
void
backfill_catalog_status_rows(FunctionCallInfo fcinfo, Oid caller, bool one, int64 id)
{
	Datum		values[2] = {ObjectIdGetDatum(caller), Int64GetDatum(id)};
	char		nulls[2] = {' ', one ? ' ' : 'n'};

	catalog_rows_for_caller(fcinfo, "SELECT * FROM migrate.backfill_status_rows($1, $2)",
							2, (Oid[]) {OIDOID, INT8OID}, values, nulls);
}

/*
 * Deletes the ranges and batch transactions of a cancelled job, which
 * cannot be resumed.  A range a batch holds is left to that batch's worker,
 * which clears it when it sees the cancel: migrate_backfill_cancel() holds
 * the job's row, which the batch updates as it commits, so waiting for the
 * batch here would be a deadlock.
 */
void
backfill_catalog_clear_cancelled(int64 id)
{
	Datum		args[1] = {Int64GetDatum(id)};
	Oid			types[1] = {INT8OID};

	spi_begin();
	if (SPI_execute_with_args("DELETE FROM migrate.backfill_ranges "
							  "WHERE (job_id, start_block) IN (SELECT r.job_id, r.start_block "
							  "  FROM migrate.backfill_ranges r JOIN migrate.backfill_jobs j ON j.id = r.job_id "
							  "  WHERE r.job_id = $1 AND j.state = 'cancelled' FOR UPDATE OF r SKIP LOCKED)",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM migrate.backfill_batches b USING migrate.backfill_jobs j "
							  "WHERE b.job_id = $1 AND j.id = $1 AND j.state = 'cancelled'",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear the ranges and batches of backfill job " INT64_FORMAT, id);
	spi_end();
}

/*
 * Makes the job running and reads its row into def (the first pass's
 * *pass_end is -1), if it is queued or running.  False if it is not: its
 * submitter rolled back, or it was paused, cancelled or finished.
 */
bool
backfill_catalog_start_job(int64 id, BackfillJobDef *def, int *pass, int64 *pass_end)
{
	int			rc;
	TupleDesc	desc;
	HeapTuple	tup;

	spi_begin();
	rc = SPI_execute_with_args("UPDATE migrate.backfill_jobs "
							   "SET state = 'running', started_at = coalesce(started_at, pg_catalog.clock_timestamp()), "
							   "    held_reason = NULL "
							   "WHERE id = $1 AND state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
							   "RETURNING relid, column_name, expression, where_clause, submitted_by, search_path, "
							   "  batch_size, max_batch_size, coalesce(max_rows_per_second, 0), batch_ms, sleep_ms, "
							   "  rows_per_block, pass, coalesce(pass_end_block, -1), workers, submitter",
							   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							   NULL, false, 0);
	tup = job_row(rc, SPI_OK_UPDATE_RETURNING, id, &desc);
	if (tup)
	{
		bool		isnull;
		Datum		submitter;

		memset(def, 0, sizeof(*def));
		def->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		def->column_name = text_col(tup, desc, 2);
		def->expression = text_col(tup, desc, 3);
		def->where_clause = text_col(tup, desc, 4);
		def->submitted_by = text_col(tup, desc, 5);
		def->search_path = text_col(tup, desc, 6);
		def->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		def->max_batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
		def->max_rows_per_second = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		def->batch_ms = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		def->sleep_ms = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
		def->rows_per_block = DatumGetFloat8(SPI_getbinval(tup, desc, 12, &isnull));
		*pass = DatumGetInt32(SPI_getbinval(tup, desc, 13, &isnull));
		*pass_end = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
		def->workers = DatumGetInt32(SPI_getbinval(tup, desc, 15, &isnull));
		submitter = SPI_getbinval(tup, desc, 16, &isnull);
		def->submitter = isnull ? InvalidOid : DatumGetObjectId(submitter);
	}
	spi_end();
	return tup != NULL;
}

/*
 * What may have changed under a running job's worker: its state and pace
 * (migrate_backfill_pause, _cancel, _pace), and the load it holds for:
 * the replay lag of the most lagging streaming standby and, with
 * count_sessions, the client sessions running a statement (those waiting
 * in an extension, such as migrate_backfill_wait(), load nothing).  One
 * statement, run before every batch: the functions behind
 * pg_stat_replication and pg_stat_activity, which hide those rows from
 * unprivileged roles, cost ~0.5 ms less to plan than the views.  False if
 * the job is gone.
 */
bool
backfill_catalog_read_control(int64 id, bool count_sessions, BackfillControl *control)
{
	const char *active = !count_sessions ? "NULL::pg_catalog.int8" :
		"(SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_get_activity(NULL) a "
		" WHERE a.backend_type = 'client backend' AND a.state = 'active' "
		"   AND a.wait_event_type IS DISTINCT FROM 'Extension')";
	int			rc;
	TupleDesc	desc;
	HeapTuple	tup;

	spi_begin();
	rc = SPI_execute_with_args(psprintf("SELECT j.state, "
										"  (SELECT pg_catalog.max(extract(epoch FROM r.replay_lag) * 1000) "
										"   FROM pg_catalog.pg_stat_get_wal_senders() r WHERE r.state = 'streaming'), "
										"  j.sleep_ms, coalesce(j.max_rows_per_second, 0), %s, j.workers "
										"FROM migrate.backfill_jobs j WHERE j.id = $1", active),
							   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							   NULL, true, 0);
	tup = job_row(rc, SPI_OK_SELECT, id, &desc);
	if (tup)
	{
		bool		isnull;
		Datum		lag = SPI_getbinval(tup, desc, 2, &isnull);

		control->replica_lag_ms = isnull ? 0 : DatumGetFloat8(DirectFunctionCall1(numeric_float8, lag));
		control->active_sessions = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
		if (isnull)
			control->active_sessions = 0;
		control->state = backfill_state_parse(SPI_getvalue(tup, desc, 1));
		control->sleep_ms = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		control->max_rows_per_second = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		control->workers = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	}
	spi_end();
	return tup != NULL;
}

/*
 * A batch's claim: takes the first range of the pass that no other
 * worker's batch holds (FOR UPDATE SKIP LOCKED on its row, until the
 * batch's transaction ends) and moves its position on by up to blocks;
 * *lo and *hi are the blocks the batch walks.  Committed with the batch's
 * rows, rolled back with them.  When none is free, tells whether other
 * batches hold the ranges left or none is left to walk.
 */
BackfillClaim
backfill_catalog_claim_range(int64 id, int64 blocks, int64 *lo, int64 *hi)
{
	static SPIPlanPtr claim_plan = NULL;
	static SPIPlanPtr left_plan = NULL;
	Datum		args[2] = {Int64GetDatum(id), Int64GetDatum(blocks)};
	BackfillClaim claim = BACKFILL_CLAIMED;
	bool		isnull;

	spi_begin();
	if (SPI_execute_plan(catalog_keep_plan(&claim_plan,
										   "WITH c AS (SELECT start_block, next_block FROM migrate.backfill_ranges "
										   "  WHERE job_id = $1 AND next_block < end_block "
										   "  ORDER BY start_block LIMIT 1 FOR UPDATE SKIP LOCKED) "
										   "UPDATE migrate.backfill_ranges r "
										   "SET next_block = LEAST(r.next_block + $2, r.end_block) "
										   "FROM c WHERE r.job_id = $1 AND r.start_block = c.start_block "
										   "RETURNING c.next_block, r.next_block",
										   2, (Oid[]) {INT8OID, INT8OID}),
						 args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim a range of backfill job " INT64_FORMAT, id);
	if (SPI_processed > 0)
	{
		*lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	else
	{
		/* none free: taken by other workers, or none left to walk */
		if (SPI_execute_plan(catalog_keep_plan(&left_plan,
											   "SELECT EXISTS (SELECT FROM migrate.backfill_ranges "
											   "  WHERE job_id = $1 AND next_block < end_block)",
											   1, (Oid[]) {INT8OID}),
							 args, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the ranges of backfill job " INT64_FORMAT, id);
		claim = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
			? BACKFILL_CLAIM_BUSY : BACKFILL_CLAIM_PASS_OVER;
	}
	spi_end();
	return claim;
}

/*
 * A batch's progress, in the batch's transaction so that it commits with
 * the rows: the job's position and counters, and the batch's transaction
 * id when it changed rows (the check skips the rows it wrote).
 */
void
backfill_catalog_record_batch(int64 id, int64 blocks, int64 rows, int batch_size, double ms)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[5] = {Int64GetDatum(id), Int64GetDatum(blocks), Int64GetDatum(rows),
	Int32GetDatum(batch_size), Float8GetDatum(ms)};

	spi_begin();
	if (SPI_execute_plan(catalog_keep_plan(&plan,
										   "WITH b AS (INSERT INTO migrate.backfill_batches (job_id, xid) "
										   "  SELECT $1, pg_catalog.pg_current_xact_id() WHERE $3 OPERATOR(pg_catalog.>) 0) "
										   "UPDATE migrate.backfill_jobs SET next_block = next_block + $2, "
										   "  rows_done = rows_done + $3, "
										   "  batches = batches + 1, batch_size = $4, "
										   "  max_batch_ms = GREATEST(max_batch_ms, $5), held_reason = NULL "
										   "WHERE id = $1",
										   5, (Oid[]) {INT8OID, INT8OID, INT8OID, INT4OID, FLOAT8OID}),
						 args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record backfill progress");
	spi_end();
}

/*
 * The transactions of the job's batches so far, any worker's, as an xid[],
 * or (Datum) 0 if there are none.
 */
Datum
backfill_catalog_batch_xids(int64 id)
{
	bool		isnull;
	Datum		xids;

	spi_begin();
	if (SPI_execute_with_args("SELECT pg_catalog.array_agg(xid::pg_catalog.xid) "
							  "FROM migrate.backfill_batches WHERE job_id = $1",
							  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							  NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the batches of backfill job " INT64_FORMAT, id);
	xids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	xids = isnull ? (Datum) 0 : SPI_datumTransfer(xids, false, -1);
	spi_end();
	return xids;
}

/*
 * Where the job's pass stands, for the worker about to end it (under the
 * job's pass lock, see backfill.c's end_pass).
 */
void
backfill_catalog_pass_status(int64 id, BackfillPassStatus *status)
{
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	spi_begin();
	rc = SPI_execute_with_args("SELECT pass, coalesce(pass_end_block, -1), rows_done = pass_start_rows, "
							   "  state <> 'running' OR EXISTS (SELECT FROM migrate.backfill_ranges r "
							   "          WHERE r.job_id = j.id AND r.next_block < r.end_block) "
							   "FROM migrate.backfill_jobs j WHERE id = $1",
							   1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							   NULL, true, 0);
	tup = job_row(rc, SPI_OK_SELECT, id, &desc);
	if (tup == NULL)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, id);
	status->pass = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	status->pass_end = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	status->idle = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	status->ended = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	spi_end();
}

/*
 * Ends a pass in the caller's transaction: with again, pass `pass` starts
 * over the table's first nblocks blocks, cut into nranges ranges;
 * otherwise the job is done (unless it was paused or cancelled meanwhile)
 * and its batch transactions go.  skipped (the rows the check found left)
 * is added to skipped_locked.  The old ranges go in both cases.
 */
void
backfill_catalog_end_pass(int64 id, int pass, int64 nblocks, bool again, int64 skipped,
						  int64 nranges)
{
	Datum		values[5] = {Int64GetDatum(id), Int32GetDatum(pass), Int64GetDatum(nblocks),
	BoolGetDatum(again), Int64GetDatum(skipped)};
	Datum		ranges[3] = {Int64GetDatum(id), Int64GetDatum(nblocks), Int64GetDatum(nranges)};
	Oid			range_types[3] = {INT8OID, INT8OID, INT8OID};

	spi_begin();
	if (SPI_execute_with_args("UPDATE migrate.backfill_jobs "
							  "SET pass = CASE WHEN $4 THEN $2 ELSE pass END, "
							  "    next_block = CASE WHEN $4 THEN 0 ELSE next_block END, "
							  "    pass_end_block = CASE WHEN $4 THEN $3 ELSE pass_end_block END, "
							  "    pass_start_rows = rows_done, "
							  "    state = CASE WHEN $4 OR state <> 'running' THEN state ELSE 'done' END, "
							  "    finished_at = CASE WHEN $4 OR state <> 'running' THEN finished_at "
							  "                       ELSE pg_catalog.clock_timestamp() END, "
							  "    held_reason = NULL, last_error = CASE WHEN $4 THEN last_error END, "
							  "    skipped_locked = skipped_locked + $5 "
							  "WHERE id = $1",
							  5, (Oid[]) {INT8OID, INT4OID, INT8OID, BOOLOID, INT8OID},
							  values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the end of a backfill pass");
	if (SPI_execute_with_args("DELETE FROM migrate.backfill_ranges WHERE job_id = $1",
							  1, range_types, ranges, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM migrate.backfill_batches b USING migrate.backfill_jobs j "
							  "WHERE b.job_id = $1 AND j.id = $1 AND j.state = 'done'",
							  1, range_types, ranges, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear the ranges and batches of backfill job " INT64_FORMAT, id);
	if (again &&
		SPI_execute_with_args("INSERT INTO migrate.backfill_ranges (job_id, start_block, next_block, end_block) "
							  "SELECT $1, $2 * i / $3, $2 * i / $3, $2 * (i + 1) / $3 "
							  "FROM pg_catalog.generate_series(0, $3 - 1) i",
							  3, range_types, ranges, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not cut backfill job " INT64_FORMAT " into ranges", id);
	spi_end();
}

/*
 * Cuts what is left of the pass into at least nranges ranges: each
 * unfinished range keeps its first piece (its position is the piece's
 * start) and gives up the rest as new ranges, locking the ranges the way a
 * batch's claim does, so that no block is lost or walked twice.  Returns
 * how many ranges were added.
 */
uint64
backfill_catalog_recut_ranges(int64 id, int nranges)
{
	uint64		added;

	spi_begin();
	if (SPI_execute_with_args("WITH r AS (SELECT start_block, next_block, end_block FROM migrate.backfill_ranges "
							  "           WHERE job_id = $1 AND next_block < end_block FOR UPDATE), "
							  "p AS (SELECT r.*, LEAST(r.end_block - r.next_block, "
							  "             pg_catalog.ceil($2::pg_catalog.numeric / pg_catalog.count(*) OVER ())::pg_catalog.int8) AS pieces "
							  "      FROM r), "
							  "cut AS (SELECT p.start_block AS range_start, i, "
							  "               p.next_block + (p.end_block - p.next_block) * i / p.pieces AS lo, "
							  "               p.next_block + (p.end_block - p.next_block) * (i + 1) / p.pieces AS hi "
							  "        FROM p, pg_catalog.generate_series(0, p.pieces - 1) i), "
							  "kept AS (UPDATE migrate.backfill_ranges b SET end_block = c.hi FROM cut c "
							  "         WHERE c.i = 0 AND b.job_id = $1 AND b.start_block = c.range_start) "
							  "INSERT INTO migrate.backfill_ranges (job_id, start_block, next_block, end_block) "
							  "SELECT $1, lo, lo, hi FROM cut WHERE i > 0",
							  2, (Oid[]) {INT8OID, INT4OID},
							  (Datum[]) {Int64GetDatum(id), Int32GetDatum(nranges)},
							  NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not cut backfill job " INT64_FORMAT " into ranges", id);
	added = SPI_processed;
	spi_end();
	return added;
}

/*
 * Records what the worker found: a new state (a job cancelled or paused
 * meanwhile keeps that state), an error (with state running, a retry:
 * counted in retries) and why it holds, or NULL.
 */
void
backfill_catalog_record_state(int64 id, BackfillState state, const char *error, const char *held)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', error ? ' ' : 'n', held ? ' ' : 'n'};

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(backfill_state_name(state));
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	values[3] = held ? CStringGetTextDatum(held) : (Datum) 0;

	spi_begin();
	if (SPI_execute_with_args("UPDATE migrate.backfill_jobs "
							  "SET state = CASE WHEN state = 'running' THEN $2 ELSE state END, "
							  "    last_error = coalesce($3, last_error), held_reason = $4, "
							  "    retries = retries + CASE WHEN $2 = 'running' AND $3 IS NOT NULL THEN 1 ELSE 0 END, "
							  "    finished_at = CASE WHEN state = 'running' AND $2 <> 'running' "
							  "                       THEN pg_catalog.clock_timestamp() ELSE finished_at END "
							  "WHERE id = $1",
							  4, (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID},
							  values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the state of backfill job " INT64_FORMAT, id);
	spi_end();
}

/* One row of an SPI result as a palloc'd struct, for result_list. */
typedef void *(*RowReader) (HeapTuple tup, TupleDesc desc);

/*
 * The rows of the last SPI result as a List in cxt (the caller's context,
 * current before spi_begin), each read by read_row.
 */
static List *
result_list(MemoryContext cxt, RowReader read_row)
{
	MemoryContext spi_cxt = MemoryContextSwitchTo(cxt);
	List	   *rows = NIL;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		CHECK_FOR_INTERRUPTS();
		rows = lappend(rows, read_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc));
	}
	MemoryContextSwitchTo(spi_cxt);
	return rows;
}

static void *
read_runnable(HeapTuple tup, TupleDesc desc)
{
	BackfillRunnable *job = palloc(sizeof(BackfillRunnable));
	bool		isnull;

	job->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	job->submitter = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	job->workers = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	return job;
}

/*
 * The jobs of this database that should run (queued or running), in id
 * order, as BackfillRunnables.
 */
List *
backfill_catalog_runnable_jobs(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *jobs;

	spi_begin();
	if (SPI_execute("SELECT id, submitter, workers FROM migrate.backfill_jobs "
					"WHERE state OPERATOR(pg_catalog.=) ANY ('{queued,running}') AND submitter IS NOT NULL "
					"ORDER BY id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list backfill jobs");
	jobs = result_list(cxt, read_runnable);
	spi_end();
	return jobs;
}

static void *
read_migration_job(HeapTuple tup, TupleDesc desc)
{
	BackfillMigrationJob *job = palloc(sizeof(BackfillMigrationJob));
	bool		isnull;

	job->state = backfill_state_parse(SPI_getvalue(tup, desc, 2));
	job->last_error = text_col(tup, desc, 3);
	job->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	job->relation = text_col(tup, desc, 4);
	job->column_name = text_col(tup, desc, 5);
	return job;
}

/*
 * The latest job of each column that the migration's script submitted in
 * that direction (action: apply or rollback), in id order, as
 * BackfillMigrationJobs.
 */
List *
backfill_catalog_migration_jobs(const char *version, HistoryAction action)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		values[2] = {CStringGetTextDatum(version),
	CStringGetTextDatum(history_action_name(action))};
	List	   *jobs;

	spi_begin();
	if (SPI_execute_with_args("SELECT j.id, j.state, j.last_error, j.relation, j.column_name "
							  "FROM migrate.backfill_jobs j "
							  "WHERE j.migration = $1 AND j.migration_action = $2 "
							  "  AND NOT EXISTS (SELECT FROM migrate.backfill_jobs k "
							  "    WHERE k.migration = j.migration AND k.migration_action = j.migration_action "
							  "      AND k.relid = j.relid AND k.column_name = j.column_name AND k.id > j.id) "
							  "ORDER BY j.id",
							  2, (Oid[]) {TEXTOID, TEXTOID}, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the backfills of migration %s", version);
	jobs = result_list(cxt, read_migration_job);
	spi_end();
	return jobs;
}
