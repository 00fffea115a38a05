/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  The DDL-safety rules: what each catches, the lock it takes, the safe
 *	  alternative; and migrate_rules(), which lists them.
 *
 * The guard (guard.c) and migrate_lint (lint.c) judge statements against
 * these rules with the engine in judge.c.
 *
 * src/rules.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "migrate/compat.h"
#include "migrate/rules.h"

PG_FUNCTION_INFO_V1(migrate_rules_list);

const RuleDef migrate_rules[RULE_COUNT] = {
	[RULE_CREATE_INDEX_BLOCKING] = {
		"create-index-blocking", true, false,
		"CREATE INDEX without CONCURRENTLY: the build scans the whole table while holding a lock that blocks every write.",
		"SHARE on the table",
		"Build it without blocking writes, outside a transaction block: CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_idx ON orders (user_id); then check pg_index.indisvalid. On a partitioned table (CONCURRENTLY is refused there): CREATE INDEX orders_user_id_idx ON ONLY orders (user_id); CREATE INDEX CONCURRENTLY on each partition; ALTER INDEX orders_user_id_idx ATTACH PARTITION each partition's index."},
	[RULE_DROP_INDEX_BLOCKING] = {
		"drop-index-blocking", true, false,
		"DROP INDEX without CONCURRENTLY: ACCESS EXCLUSIVE on the table makes every reader queue behind the drop.",
		"ACCESS EXCLUSIVE on the table and the index",
		"Drop it without blocking, outside a transaction block: DROP INDEX CONCURRENTLY IF EXISTS orders_user_id_idx;"},
	[RULE_REINDEX_BLOCKING] = {
		"reindex-blocking", true, false,
		"REINDEX without CONCURRENTLY: rebuilds while blocking writes to the table and every read that uses the index.",
		"SHARE on the table, ACCESS EXCLUSIVE on each index",
		"Rebuild online, outside a transaction block: REINDEX INDEX CONCURRENTLY orders_user_id_idx; or REINDEX TABLE CONCURRENTLY orders;"},
	[RULE_ADD_COLUMN_REWRITE] = {
		"add-column-rewrite", true, false,
		"ADD COLUMN with a volatile default, serial or identity, GENERATED ... STORED, or a domain with constraints: rewrites the table and every index.",
		"ACCESS EXCLUSIVE on the table for the whole rewrite",
		"Add the column nullable without a default, then set the default and backfill in batches: ALTER TABLE orders ADD COLUMN token uuid; ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid(); UPDATE orders SET token = gen_random_uuid() WHERE id BETWEEN 1 AND 10000; (and so on, batch by batch)."},
	[RULE_ADD_COLUMN_REQUIRED] = {
		"add-column-required", true, false,
		"ADD COLUMN ... NOT NULL without a default: fails on a table that has rows, and breaks the application's INSERTs that do not know the column.",
		"ACCESS EXCLUSIVE on the table",
		"Give it a constant default, which needs no rewrite: ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'; or add it nullable, backfill, and enforce NOT NULL through a validated CHECK (see set-not-null-scan)."},
	[RULE_COLUMN_TYPE_REWRITE] = {
		"column-type-rewrite", true, false,
		"ALTER COLUMN TYPE that rewrites the table or re-checks constraints (int to bigint, text to varchar(n), a shorter varchar, a numeric scale change, a USING clause). Column statistics are reset as well.",
		"ACCESS EXCLUSIVE on the table for the whole rewrite",
		"Expand and contract: ALTER TABLE orders ADD COLUMN total_new bigint; keep it in sync with a trigger, backfill in batches, then swap the columns in one short transaction and ANALYZE. Widening a varchar, varchar to text and a larger numeric precision need no rewrite and pass."},
	[RULE_SET_NOT_NULL_SCAN] = {
		"set-not-null-scan", true, false,
		"SET NOT NULL without a valid CHECK (col IS NOT NULL): scans the whole table under ACCESS EXCLUSIVE.",
		"ACCESS EXCLUSIVE on the table for the whole scan",
		"ALTER TABLE orders ADD CONSTRAINT orders_status_not_null CHECK (status IS NOT NULL) NOT VALID; then in another transaction ALTER TABLE orders VALIDATE CONSTRAINT orders_status_not_null; then ALTER TABLE orders ALTER COLUMN status SET NOT NULL; (no scan) and ALTER TABLE orders DROP CONSTRAINT orders_status_not_null;"},
	[RULE_FOREIGN_KEY_VALIDATING] = {
		"foreign-key-validating", true, false,
		"ADD FOREIGN KEY without NOT VALID: checks every row while blocking writes on both tables.",
		"SHARE ROW EXCLUSIVE on both tables for the whole scan",
		"ALTER TABLE posts ADD CONSTRAINT posts_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id) NOT VALID; then, in another transaction, ALTER TABLE posts VALIDATE CONSTRAINT posts_author_id_fkey;"},
	[RULE_CHECK_VALIDATING] = {
		"check-validating", true, false,
		"ADD CHECK without NOT VALID: checks every row under ACCESS EXCLUSIVE.",
		"ACCESS EXCLUSIVE on the table for the whole scan",
		"ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total_cents >= 0) NOT VALID; then, in another transaction, ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;"},
	[RULE_UNIQUE_CONSTRAINT_BLOCKING] = {
		"unique-constraint-blocking", true, false,
		"ADD UNIQUE or PRIMARY KEY not built from an existing index: builds the index under ACCESS EXCLUSIVE, blocking reads and writes.",
		"ACCESS EXCLUSIVE on the table for the whole build",
		"CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email); then ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key; (for a PRIMARY KEY make the columns NOT NULL first, see set-not-null-scan)."},
	[RULE_EXCLUSION_CONSTRAINT] = {
		"exclusion-constraint", true, false,
		"ADD EXCLUDE: builds its index and checks every row under ACCESS EXCLUSIVE; it cannot be NOT VALID.",
		"ACCESS EXCLUSIVE on the table for the whole build",
		"There is no online path: create a new table with the constraint and copy the rows in batches, or run it in a maintenance window with SET LOCAL migrate.allow = 'exclusion-constraint';"},
	[RULE_VALIDATE_SAME_TRANSACTION] = {
		"validate-same-transaction", true, false,
		"VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID: the ADD's strong lock is still held during the validation scan.",
		"ACCESS EXCLUSIVE or SHARE ROW EXCLUSIVE (from the ADD) for the whole scan",
		"Commit after ADD CONSTRAINT ... NOT VALID and validate in a separate transaction (a separate migration): ALTER TABLE posts VALIDATE CONSTRAINT posts_author_id_fkey;"},
	[RULE_RENAME_COLUMN] = {
		"rename-column", false, false,
		"RENAME COLUMN: application code that runs now still uses the old name and fails.",
		"ACCESS EXCLUSIVE on the table (brief)",
		"Expand and contract: ALTER TABLE users ADD COLUMN full_name text; write both columns, backfill, move the readers, then drop the old column; or keep the column name and rename it in the application's mapping."},
	[RULE_RENAME_TABLE] = {
		"rename-table", false, false,
		"RENAME or SET SCHEMA of a table: application code that runs now still uses the old name and fails.",
		"ACCESS EXCLUSIVE on the table (brief)",
		"Rename and keep the old name working in the same transaction: ALTER TABLE users RENAME TO accounts; CREATE VIEW users AS SELECT * FROM accounts; and drop the view once no code uses it."},
	[RULE_DROP_COLUMN] = {
		"drop-column", false, false,
		"DROP COLUMN: application code that still reads or writes the column fails.",
		"ACCESS EXCLUSIVE on the table and its dependent indexes (brief)",
		"Stop using the column in the application first, deploy, then drop it with a short lock timeout: SET LOCAL lock_timeout = '2s'; ALTER TABLE users DROP COLUMN legacy_name;"},
	[RULE_DROP_TABLE] = {
		"drop-table", false, false,
		"DROP TABLE: ACCESS EXCLUSIVE on the table and on every table it references with a foreign key.",
		"ACCESS EXCLUSIVE on the table and the referenced tables",
		"Drop its foreign keys one at a time first, then the table, each with a short lock timeout: ALTER TABLE old_orders DROP CONSTRAINT old_orders_user_id_fkey; DROP TABLE old_orders;"},
	[RULE_SET_LOGGED] = {
		"set-logged", true, false,
		"SET LOGGED or SET UNLOGGED: rewrites the table under ACCESS EXCLUSIVE (SET LOGGED also writes all of it to WAL).",
		"ACCESS EXCLUSIVE on the table for the whole rewrite",
		"Avoid it on a live table: create a new table with the wanted persistence (CREATE TABLE events_new (LIKE events INCLUDING ALL);), copy in batches, then swap the names."},
	[RULE_SET_TABLESPACE] = {
		"set-tablespace", true, false,
		"SET TABLESPACE: copies every file of the table under ACCESS EXCLUSIVE.",
		"ACCESS EXCLUSIVE on the table for the whole copy",
		"Move it online with pg_repack --tablespace, or create a copy in the new tablespace (CREATE TABLE events_new (LIKE events INCLUDING ALL) TABLESPACE fast;), copy in batches and swap the names."},
	[RULE_SET_ACCESS_METHOD] = {
		"set-access-method", true, false,
		"SET ACCESS METHOD: rewrites the table under ACCESS EXCLUSIVE.",
		"ACCESS EXCLUSIVE on the table for the whole rewrite",
		"Create a new table with the access method (CREATE TABLE events_new (LIKE events INCLUDING ALL) USING other_am;), copy in batches, then swap the names."},
	[RULE_VACUUM_FULL] = {
		"vacuum-full", true, false,
		"VACUUM FULL: rewrites the table under ACCESS EXCLUSIVE, blocking reads and writes.",
		"ACCESS EXCLUSIVE on the table for the whole rewrite",
		"A plain VACUUM orders; makes the space reusable without blocking; to shrink the files online use pg_repack or pg_squeeze."},
	[RULE_CLUSTER] = {
		"cluster", true, false,
		"CLUSTER: rewrites the table and rebuilds every index under ACCESS EXCLUSIVE.",
		"ACCESS EXCLUSIVE on the table and its indexes for the whole rewrite",
		"Reorder online with pg_repack --order-by=created_at, or rely on an index (CREATE INDEX CONCURRENTLY) instead of the physical order."},
	[RULE_LOCK_TABLE] = {
		"lock-table", false, false,
		"LOCK TABLE in a mode that blocks writes (SHARE or stronger; ACCESS EXCLUSIVE by default).",
		"the mode named",
		"Take the weakest mode that suffices, with a short lock timeout: SET LOCAL lock_timeout = '2s'; LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE;"},
	[RULE_TRUNCATE] = {
		"truncate", false, false,
		"TRUNCATE: ACCESS EXCLUSIVE on the table (and with CASCADE on every referencing table).",
		"ACCESS EXCLUSIVE on the table",
		"Delete in batches, which blocks nothing: DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT 10000); or TRUNCATE with SET LOCAL lock_timeout = '2s';"},
	[RULE_REFRESH_MATVIEW_BLOCKING] = {
		"refresh-matview-blocking", true, false,
		"REFRESH MATERIALIZED VIEW without CONCURRENTLY: readers of the view wait for the whole refresh.",
		"ACCESS EXCLUSIVE on the materialized view for the whole refresh",
		"CREATE UNIQUE INDEX CONCURRENTLY daily_totals_day_idx ON daily_totals (day); then REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;"},
	[RULE_ATTACH_PARTITION_SCAN] = {
		"attach-partition-scan", true, false,
		"ATTACH PARTITION when no valid CHECK constraint implies the partition bound: scans the partition (and a default partition) under ACCESS EXCLUSIVE.",
		"SHARE UPDATE EXCLUSIVE on the parent, ACCESS EXCLUSIVE on the partition and the default partition",
		"ALTER TABLE orders_2024 ADD CONSTRAINT orders_2024_bound CHECK (created_at IS NOT NULL AND created_at >= '2024-01-01' AND created_at < '2025-01-01') NOT VALID; ALTER TABLE orders_2024 VALIDATE CONSTRAINT orders_2024_bound; then ATTACH PARTITION (no scan) and drop the CHECK. For a default partition add a CHECK that excludes the new range the same way."},
	[RULE_DETACH_PARTITION_BLOCKING] = {
		"detach-partition-blocking", false, false,
		"DETACH PARTITION without CONCURRENTLY: ACCESS EXCLUSIVE on the parent blocks every query on all partitions.",
		"ACCESS EXCLUSIVE on the parent and the partition",
		"Outside a transaction block: ALTER TABLE orders DETACH PARTITION orders_2019 CONCURRENTLY; (not possible while the table has a default partition)."},
	[RULE_DOMAIN_CONSTRAINT] = {
		"domain-constraint", true, false,
		"ALTER DOMAIN ADD CONSTRAINT, SET NOT NULL or VALIDATE CONSTRAINT: checks every row of every table that uses the domain while blocking writes (NOT VALID does not help: VALIDATE takes the same lock).",
		"SHARE on every table with a column of the domain",
		"Put the CHECK on the columns instead, NOT VALID then VALIDATE in another transaction: ALTER TABLE orders ADD CONSTRAINT orders_code_check CHECK (code ~ '^[A-Z]+$') NOT VALID;"},
	[RULE_MISSING_LOCK_TIMEOUT] = {
		"missing-lock-timeout", true, false,
		"A statement that needs a lock blocking writes (SHARE or stronger) on a large table while lock_timeout is 0: if it waits behind a long query, every later query on the table queues behind it.",
		"the statement's own lock, requested with no time limit",
		"SET LOCAL lock_timeout = '2s'; before the statement, and retry on SQLSTATE 55P03 (migrate_apply sets migrate.lock_timeout and retries by itself)."},
	[RULE_DDL_WITH_DML] = {
		"ddl-with-dml", false, true,
		"Schema changes and data changes in one transaction: the DDL's lock is held while the rows are written.",
		"the DDL's lock, held until the data change commits",
		"Put the data change in a migration of its own, batched: one lock-taking statement per transaction, e.g. 007 ALTER TABLE posts ADD COLUMN author_id bigint; then 008 SELECT migrate_backfill('posts', 'author_id', '(SELECT id FROM users WHERE users.name = posts.author_name)');"},
	[RULE_UPDATE_UNBATCHED] = {
		"update-unbatched", true, true,
		"UPDATE of a large table with no WHERE clause, or one that reads only the columns it sets (WHERE status IS NULL): one transaction can change most rows, and each stays locked, blocking the application's writes to it, until the whole statement commits.",
		"ROW EXCLUSIVE on the table, and a row lock on every row changed, until commit",
		"Backfill it in the background, in short batches that never wait on the application's row locks: SELECT migrate_backfill('orders', 'status', $$'pending'$$, where_clause => 'status IS NULL'); (a migration that starts it stays running until it is done; one job per column)."},
};

/* Index into migrate_rules of a rule id, or -1. */
int
rules_lookup(const char *id)
{
	int			i;

	for (i = 0; i < RULE_COUNT; i++)
		if (strcmp(migrate_rules[i].id, id) == 0)
			return i;
	return -1;
}

/*
 * Parses a comma-separated list of rule ids into allowed[RULE_COUNT].
 * Returns false with *bad set to the first unknown id (or to the whole
 * value when it is not a list).
 */
bool
rules_parse_list(const char *value, bool *allowed, char **bad)
{
	char	   *copy = pstrdup(value);
	List	   *ids;
	ListCell   *lc;

	if (!SplitIdentifierString(copy, ',', &ids))
	{
		*bad = pstrdup(value);
		return false;
	}
	foreach(lc, ids)
	{
		int			i = rules_lookup(lfirst(lc));

		if (i < 0)
		{
			*bad = lfirst(lc);
			return false;
		}
		allowed[i] = true;
	}
	return true;
}


/* migrate_rules(): every rule, with its lock and the safe alternative. */
Datum
migrate_rules_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	migrate_init_srf(fcinfo);
	for (i = 0; i < RULE_COUNT; i++)
	{
		const RuleDef *r = &migrate_rules[i];
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(r->id);
		values[1] = CStringGetTextDatum(r->is_error ? "error" : "warning");
		values[2] = BoolGetDatum(r->lint_only);
		values[3] = CStringGetTextDatum(r->catches);
		values[4] = CStringGetTextDatum(r->lock);
		values[5] = CStringGetTextDatum(r->alternative);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
