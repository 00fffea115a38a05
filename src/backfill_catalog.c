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
	bool		found;

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read backfill job " INT64_FORMAT, id);
	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		submitter;

		status->state = backfill_state_parse(SPI_getvalue(tup, desc, 1));
		status->submitted_by = text_col(tup, desc, 2);
		submitter = SPI_getbinval(tup, desc, 3, &isnull);
		status->submitter = isnull ? InvalidOid : DatumGetObjectId(submitter);
		status->last_error = with_error ? text_col(tup, desc, 4) : NULL;
	}
	spi_end();
	return found;
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
