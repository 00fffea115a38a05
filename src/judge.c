/*-------------------------------------------------------------------------
 *
 * judge.c
 *	  The engine that judges one raw parse tree against the live catalog,
 *	  for the guard and for migrate_lint.
 *
 * The engine runs before the statement takes its lock (from the
 * ddl_command_start event trigger or the ProcessUtility hook) and from
 * migrate_lint, which never executes anything.  So it only reads: syscache
 * lookups with missing_ok, relation OIDs resolved with NoLock, sizes read
 * without locking (relation_risk.c), and nothing that assigns a transaction
 * id (DROP INDEX CONCURRENTLY must stay the first action of its
 * transaction).  What it finds names a rule of rules.c; the hints that
 * quote the statement are hints.c's.
 *
 * src/judge.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "commands/event_trigger.h"
#include "commands/tablecmds.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "parser/scanner.h"
#include "parser/scansup.h"
#include "partitioning/partbounds.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "migrate/compat.h"
#include "migrate/hints.h"
#include "migrate/judge.h"
#include "migrate/relation_risk.h"
#include "migrate/rules.h"
#include "migrate/script.h"

typedef struct Judge
{
	JudgeContext *jc;
	List	   *findings;
	LOCKMODE	lockmode;		/* strongest lock the statement takes */
	RelFacts	target;			/* relation it is taken on, if at risk */
} Judge;

static bool judge_applies(Node *stmt);
static void judge_statement(Judge *j, Node *stmt);
static void judge_alter_table(Judge *j, AlterTableStmt *stmt);
static void judge_reindex_many(Judge *j, ReindexStmt *rs);
static int	count_at_risk(Judge *j, Oid nspid, Oid spcid, const char *relkinds, List *roles,
						  bool skip_catalogs, RelFacts *largest);
static void judge_move_all(Judge *j, AlterTableMoveAllStmt *stmt);
static void judge_create_partition(Judge *j, CreateStmt *stmt);
static void judge_add_column(Judge *j, RelFacts *rel, ColumnDef *col);
static void judge_add_constraint(Judge *j, RelFacts *rel, Constraint *con);
static void judge_primary_key_using_index(Judge *j, RelFacts *rel, Constraint *con);
static void judge_column_type(Judge *j, RelFacts *rel, AlterTableCmd *cmd);
static void judge_set_not_null(Judge *j, RelFacts *rel, const char *colname);
static void judge_validate(Judge *j, RelFacts *rel, RangeVar *rv, const char *conname);
static void judge_attach(Judge *j, Oid parentid, PartitionCmd *pc, const char *what);
static void judge_domain(Judge *j, AlterDomainStmt *stmt);
static void judge_update(Judge *j, UpdateStmt *stmt);
static bool reads_other_columns(Node *node, List *columns);
static bool may_find(Judge *j, Node *stmt);
static void add(Judge *j, RuleId rule, RelFacts *rel, LOCKMODE lockmode,
				const char *hint, const char *fmt,...) pg_attribute_printf(6, 7);
static void touch(Judge *j, RelFacts *rel, LOCKMODE lockmode);
static bool change_requires_rewrite(Node *expr, AttrNumber attnum);
static bool is_serial(TypeName *tn);
static Oid	rel_am(Oid relid);
static bool not_literal(Node *node, void *context);
static bool may_be_volatile(Oid func_id, void *context);

/*
 * Cheap test whether the engine has anything to say about a statement, so
 * that the guard costs nothing for CREATE TABLE and friends.
 */
static bool
judge_applies(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			return !((IndexStmt *) stmt)->concurrent;
		case T_DropStmt:
			return ((DropStmt *) stmt)->removeType == OBJECT_INDEX ||
				((DropStmt *) stmt)->removeType == OBJECT_TABLE;
		case T_AlterTableStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
		case T_ReindexStmt:
		case T_VacuumStmt:
		case T_ClusterStmt:
		case T_LockStmt:
		case T_TruncateStmt:
		case T_RefreshMatViewStmt:
		case T_AlterDomainStmt:
		case T_UpdateStmt:
		case T_AlterTableMoveAllStmt:
			return true;
		case T_CreateStmt:
			return ((CreateStmt *) stmt)->partbound != NULL;
		default:
			return false;
	}
}

/*
 * Judges one raw statement.  Any error inside (a lookup that fails, a
 * default expression that does not cook) is caught in a subtransaction,
 * reported as a WARNING, and the statement passes: the guard never breaks
 * DDL it does not understand.  A subtransaction assigns no transaction id
 * unless something in it writes, and nothing here writes.
 */
List *
judge_safely(Node *stmt, JudgeContext *jc)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Judge		j;

	if (!judge_applies(stmt))
		return NIL;

	memset(&j, 0, sizeof(j));
	j.jc = jc;
	j.lockmode = NoLock;
	if (!may_find(&j, stmt))
		return NIL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		judge_statement(&j, stmt);

		/*
		 * Any lock that blocks writes, requested with no time limit on a
		 * large table, can stall every query behind it.
		 */
		if (j.lockmode >= ShareLock && OidIsValid(j.target.relid) &&
			!jc->lock_timeout_set)
			add(&j, RULE_MISSING_LOCK_TIMEOUT, &j.target, j.lockmode, NULL,
				"%s requests %s on large table %s with lock_timeout = 0",
				GetCommandTagName(CreateCommandTag(stmt)),
				GetLockmodeName(DEFAULT_LOCKMETHOD, j.lockmode), j.target.name);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		/* a cancel (statement_timeout included) stops the statement */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		ereport(WARNING,
				(errmsg("migrate guard could not analyse a %s statement: %s",
						GetCommandTagName(CreateCommandTag(stmt)), edata->message),
				 errdetail("The statement was not checked for locking hazards."),
				 errhint("Check its locks by hand (see migrate_rules()); the statement itself will report any real error.")));
		FreeErrorData(edata);
		j.findings = NIL;
	}
	PG_END_TRY();

	return j.findings;
}

/*
 * The common case, DDL on small or new tables, needs no subtransaction:
 * these statements are judged by one table each (or by each table they
 * drop), and when none is at risk nothing can be found.  Only lookups that
 * cannot fail are used here; anything unusual takes the safe path.
 */
static bool
may_find(Judge *j, Node *stmt)
{
	RelFacts	rel;
	RangeVar   *rv;
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			rv = ((IndexStmt *) stmt)->relation;
			break;
		case T_AlterTableStmt:
			rv = ((AlterTableStmt *) stmt)->relation;
			break;
		case T_UpdateStmt:
			rv = ((UpdateStmt *) stmt)->relation;
			break;
		case T_DropStmt:
			if (((DropStmt *) stmt)->removeType != OBJECT_TABLE)
				return true;
			foreach(lc, ((DropStmt *) stmt)->objects)
			{
				List	   *names = castNode(List, lfirst(lc));

				if (list_length(names) != 1 && list_length(names) != 2)
					return true;
				if (relrisk_rv(j->jc->created, makeRangeVarFromNameList(names), &rel))
					return true;
			}
			return false;
		default:
			return true;
	}
	return rv == NULL || rv->catalogname != NULL || relrisk_rv(j->jc->created, rv, &rel);
}

static void
judge_statement(Judge *j, Node *stmt)
{
	RelFacts	rel;
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			{
				IndexStmt  *is = (IndexStmt *) stmt;

				/* ON ONLY a partitioned table builds nothing */
				if (!relrisk_rv(j->jc->created, is->relation, &rel) ||
					(rel.relkind == RELKIND_PARTITIONED_TABLE && !is->relation->inh))
					break;
				touch(j, &rel, ShareLock);
				if (rel.relkind == RELKIND_PARTITIONED_TABLE)
					add(j, RULE_CREATE_INDEX_BLOCKING, &rel, ShareLock,
						"CONCURRENTLY is refused on a partitioned table: CREATE INDEX ... ON ONLY the parent (instant, invalid), CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX parent_index ATTACH PARTITION partition_index for each; the parent index becomes valid when all are attached.",
						"CREATE INDEX on partitioned table %s (%s in its partitions) blocks writes to every partition while the indexes are built",
						rel.name, psprintf(INT64_FORMAT " kB", rel.bytes / 1024));
				else
					add(j, RULE_CREATE_INDEX_BLOCKING, &rel, ShareLock, hint_concurrent_index(j->jc->text),
						"CREATE INDEX on large table %s (" INT64_FORMAT " kB) blocks writes while the index is built",
						rel.name, rel.bytes / 1024);
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *ds = (DropStmt *) stmt;

				foreach(lc, ds->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList(castNode(List, lfirst(lc)));

					if (ds->removeType == OBJECT_TABLE)
					{
						if (!relrisk_rv(j->jc->created, rv, &rel))
							continue;
						touch(j, &rel, AccessExclusiveLock);
						add(j, RULE_DROP_TABLE, &rel, AccessExclusiveLock, NULL,
							"DROP TABLE %s takes ACCESS EXCLUSIVE on it and on every table it references",
							rel.name);
					}
					else if (!ds->concurrent)
					{
						Oid			indexid = RangeVarGetRelid(rv, NoLock, true);
						Oid			tableid = OidIsValid(indexid) ? IndexGetRelation(indexid, true) : InvalidOid;

						if (!OidIsValid(tableid) || !relrisk_oid(tableid, &rel))
							continue;
						touch(j, &rel, AccessExclusiveLock);
						add(j, RULE_DROP_INDEX_BLOCKING, &rel, AccessExclusiveLock,
							rel.relkind == RELKIND_PARTITIONED_TABLE ?
							"A partitioned index cannot be dropped CONCURRENTLY: set a short lock_timeout and allow the rule, or drop the partitions' indexes by detaching them first." :
							psprintf("Drop it without blocking, outside a transaction block: DROP INDEX CONCURRENTLY IF EXISTS %s;",
									 relrisk_name(indexid)),
							"DROP INDEX %s takes ACCESS EXCLUSIVE on large table %s",
							quote_identifier(rv->relname), rel.name);
					}
				}
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;

				if (rs->relation == NULL || !relrisk_rv(j->jc->created, rs->relation, &rel) ||
					rel.relkind == RELKIND_INDEX || rel.relkind == RELKIND_PARTITIONED_INDEX)
					break;
				if (rs->renameType == OBJECT_COLUMN)
				{
					touch(j, &rel, AccessExclusiveLock);
					add(j, RULE_RENAME_COLUMN, &rel, AccessExclusiveLock, NULL,
						"renaming column %s of %s breaks application code that uses the old name",
						quote_identifier(rs->subname), rel.name);
				}
				else if (rs->renameType == OBJECT_TABLE)
				{
					touch(j, &rel, AccessExclusiveLock);
					add(j, RULE_RENAME_TABLE, &rel, AccessExclusiveLock, NULL,
						"renaming table %s breaks application code that uses the old name",
						rel.name);
				}
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *as = (AlterObjectSchemaStmt *) stmt;

				if (as->objectType != OBJECT_TABLE || !relrisk_rv(j->jc->created, as->relation, &rel))
					break;
				touch(j, &rel, AccessExclusiveLock);
				add(j, RULE_RENAME_TABLE, &rel, AccessExclusiveLock, NULL,
					"moving table %s to schema %s breaks application code that uses the old name",
					rel.name, quote_identifier(as->newschema));
				break;
			}
		case T_AlterTableStmt:
			judge_alter_table(j, (AlterTableStmt *) stmt);
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *rs = (ReindexStmt *) stmt;
				bool		concurrently = script_option_true(rs->params, "concurrently");
				Oid			indexid = InvalidOid;
				Oid			tableid = InvalidOid;

				if (concurrently)
					break;
				if (rs->kind == REINDEX_OBJECT_SCHEMA || rs->kind == REINDEX_OBJECT_DATABASE)
				{
					judge_reindex_many(j, rs);
					break;
				}
				if (rs->kind == REINDEX_OBJECT_INDEX)
				{
					indexid = RangeVarGetRelid(rs->relation, NoLock, true);
					tableid = OidIsValid(indexid) ? IndexGetRelation(indexid, true) : InvalidOid;
				}
				else if (rs->kind == REINDEX_OBJECT_TABLE)
					tableid = RangeVarGetRelid(rs->relation, NoLock, true);
				if (!OidIsValid(tableid) || !relrisk_oid(tableid, &rel))
					break;
				touch(j, &rel, ShareLock);
				add(j, RULE_REINDEX_BLOCKING, &rel, ShareLock,
					psprintf("Rebuild online, outside a transaction block: REINDEX %s CONCURRENTLY %s;",
							 OidIsValid(indexid) ? "INDEX" : "TABLE",
							 OidIsValid(indexid) ? relrisk_name(indexid) : rel.name),
					"REINDEX on large table %s (" INT64_FORMAT " kB) blocks writes, and reads that use the index, until the rebuild ends",
					rel.name, rel.bytes / 1024);
				break;
			}
		case T_VacuumStmt:
			{
				VacuumStmt *vs = (VacuumStmt *) stmt;
				bool		full = script_option_true(vs->options, "full");

				if (!vs->is_vacuumcmd || !full)
					break;
				foreach(lc, vs->rels)
				{
					VacuumRelation *vr = lfirst_node(VacuumRelation, lc);

					if (!relrisk_rv(j->jc->created, vr->relation, &rel))
						continue;
					touch(j, &rel, AccessExclusiveLock);
					add(j, RULE_VACUUM_FULL, &rel, AccessExclusiveLock, NULL,
						"VACUUM FULL rewrites large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
						rel.name, rel.bytes / 1024);
				}
				if (vs->rels == NIL)
				{
					memset(&rel, 0, sizeof(rel));
					add(j, RULE_VACUUM_FULL, &rel, AccessExclusiveLock, NULL,
						"VACUUM FULL without a table list rewrites every table of the database under ACCESS EXCLUSIVE");
				}
				break;
			}
		case T_ClusterStmt:
			{
				ClusterStmt *cs = (ClusterStmt *) stmt;

				if (cs->relation == NULL)
				{
					memset(&rel, 0, sizeof(rel));
					add(j, RULE_CLUSTER, &rel, AccessExclusiveLock, NULL,
						"CLUSTER without a table rewrites every clustered table of the database under ACCESS EXCLUSIVE");
					break;
				}
				if (!relrisk_rv(j->jc->created, cs->relation, &rel))
					break;
				touch(j, &rel, AccessExclusiveLock);
				add(j, RULE_CLUSTER, &rel, AccessExclusiveLock, NULL,
					"CLUSTER rewrites large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
					rel.name, rel.bytes / 1024);
				break;
			}
		case T_LockStmt:
			{
				LockStmt   *ls = (LockStmt *) stmt;

				if (ls->mode < ShareLock)
					break;
				foreach(lc, ls->relations)
				{
					if (!relrisk_rv(j->jc->created, lfirst_node(RangeVar, lc), &rel))
						continue;
					touch(j, &rel, ls->mode);
					add(j, RULE_LOCK_TABLE, &rel, ls->mode, NULL,
						"LOCK TABLE takes %s on large table %s, blocking writes until the transaction ends",
						GetLockmodeName(DEFAULT_LOCKMETHOD, ls->mode), rel.name);
				}
				break;
			}
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) stmt)->relations)
			{
				if (!relrisk_rv(j->jc->created, lfirst_node(RangeVar, lc), &rel))
					continue;
				touch(j, &rel, AccessExclusiveLock);
				add(j, RULE_TRUNCATE, &rel, AccessExclusiveLock, NULL,
					"TRUNCATE takes ACCESS EXCLUSIVE on large table %s", rel.name);
			}
			break;
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *rm = (RefreshMatViewStmt *) stmt;

				if (rm->concurrent || rm->skipData || !relrisk_rv(j->jc->created, rm->relation, &rel))
					break;
				touch(j, &rel, AccessExclusiveLock);
				add(j, RULE_REFRESH_MATVIEW_BLOCKING, &rel, AccessExclusiveLock, NULL,
					"REFRESH MATERIALIZED VIEW %s (" INT64_FORMAT " kB) blocks its readers until the refresh ends",
					rel.name, rel.bytes / 1024);
				break;
			}
		case T_AlterDomainStmt:
			judge_domain(j, (AlterDomainStmt *) stmt);
			break;
		case T_UpdateStmt:
			judge_update(j, (UpdateStmt *) stmt);
			break;
		case T_AlterTableMoveAllStmt:
			judge_move_all(j, (AlterTableMoveAllStmt *) stmt);
			break;
		case T_CreateStmt:
			if (((CreateStmt *) stmt)->partbound)
				judge_create_partition(j, (CreateStmt *) stmt);
			break;
		default:
			break;
	}
}

/*
 * REINDEX SCHEMA or DATABASE rebuilds every table's indexes in turn, each
 * table under SHARE while its indexes are rebuilt (PostgreSQL 15 includes
 * the system catalogs in DATABASE).  Judged by the largest table at risk,
 * named with how many others there are; other sessions' temporary tables
 * are skipped, as REINDEX skips them.
 */
static void
judge_reindex_many(Judge *j, ReindexStmt *rs)
{
	Oid			nspid = InvalidOid;
	RelFacts	largest;
	int			count;
	const char *keyword = rs->kind == REINDEX_OBJECT_SCHEMA ? "SCHEMA" : "DATABASE";
	const char *name;
	char	   *hint;

	if (rs->kind == REINDEX_OBJECT_SCHEMA)
	{
		nspid = get_namespace_oid(rs->name, true);
		if (!OidIsValid(nspid))
			return;
		name = quote_identifier(rs->name);
	}
	else
		name = quote_identifier(get_database_name(MyDatabaseId));

	count = count_at_risk(j, nspid, InvalidOid, "rm", NIL, false, &largest);
	if (count == 0)
		return;

	hint = psprintf("Rebuild online, outside a transaction block: REINDEX %s CONCURRENTLY %s;%s",
					keyword, name, rs->kind == REINDEX_OBJECT_DATABASE ?
					" (it skips the system catalogs, which cannot be rebuilt concurrently)." : "");
	touch(j, &largest, ShareLock);
	if (count == 1)
		add(j, RULE_REINDEX_BLOCKING, &largest, ShareLock, hint,
			"REINDEX %s %s blocks writes to large table %s (" INT64_FORMAT " kB), and reads that use its indexes, until the rebuild ends",
			keyword, name, largest.name, largest.bytes / 1024);
	else
		add(j, RULE_REINDEX_BLOCKING, &largest, ShareLock, hint,
			"REINDEX %s %s blocks writes to %d large tables in turn, and reads that use their indexes, each until its rebuild ends; the largest is %s (" INT64_FORMAT " kB)",
			keyword, name, count, largest.name, largest.bytes / 1024);
}

static void
judge_alter_table(Judge *j, AlterTableStmt *stmt)
{
	RelFacts	rel;
	ListCell   *lc;

	if (!relrisk_rv(j->jc->created, stmt->relation, &rel))
		return;
	/* ALTER INDEX ... SET TABLESPACE copies the index under ACCESS EXCLUSIVE */
	if (rel.relkind == RELKIND_INDEX)
	{
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_SetTableSpace &&
				get_tablespace_oid(cmd->name, true) !=
				(OidIsValid(get_rel_tablespace(rel.relid)) ? get_rel_tablespace(rel.relid) : MyDatabaseTableSpace))
				add(j, RULE_SET_TABLESPACE, &rel, AccessExclusiveLock, NULL,
					"SET TABLESPACE copies large index %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE, blocking every query on its table",
					rel.name, rel.bytes / 1024);
		}
		return;
	}
	if (rel.relkind != RELKIND_RELATION && rel.relkind != RELKIND_PARTITIONED_TABLE &&
		rel.relkind != RELKIND_MATVIEW)
		return;

	/* the lock the whole statement takes, as ALTER TABLE itself computes it */
	touch(j, &rel, AlterTableGetLockLevel(stmt->cmds));

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				judge_add_column(j, &rel, castNode(ColumnDef, cmd->def));
				break;
			case AT_AlterColumnType:
				judge_column_type(j, &rel, cmd);
				break;
			case AT_SetNotNull:
				judge_set_not_null(j, &rel, cmd->name);
				break;
			case AT_AddConstraint:
				judge_add_constraint(j, &rel, castNode(Constraint, cmd->def));
				break;
			case AT_ValidateConstraint:
				judge_validate(j, &rel, stmt->relation, cmd->name);
				break;
			case AT_DropColumn:
				add(j, RULE_DROP_COLUMN, &rel, AccessExclusiveLock, NULL,
					"dropping column %s of %s breaks application code that still uses it",
					quote_identifier(cmd->name), rel.name);
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				add(j, RULE_SET_LOGGED, &rel, AccessExclusiveLock, NULL,
					"SET %s rewrites large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
					cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED", rel.name, rel.bytes / 1024);
				break;
			case AT_SetTableSpace:
				/* moving to where it already is copies nothing */
				if (get_tablespace_oid(cmd->name, true) ==
					(OidIsValid(get_rel_tablespace(rel.relid)) ? get_rel_tablespace(rel.relid) : MyDatabaseTableSpace))
					break;
				add(j, RULE_SET_TABLESPACE, &rel, AccessExclusiveLock, NULL,
					"SET TABLESPACE copies large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
					rel.name, rel.bytes / 1024);
				break;
			case AT_SetAccessMethod:
				if (get_table_am_oid(cmd->name, true) == rel_am(rel.relid))
					break;
				add(j, RULE_SET_ACCESS_METHOD, &rel, AccessExclusiveLock, NULL,
					"SET ACCESS METHOD rewrites large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
					rel.name, rel.bytes / 1024);
				break;
			case AT_AttachPartition:
				if (rel.relkind == RELKIND_PARTITIONED_TABLE)
					judge_attach(j, rel.relid, castNode(PartitionCmd, cmd->def), "ATTACH PARTITION");
				break;
			case AT_DetachPartition:
				if (!castNode(PartitionCmd, cmd->def)->concurrent)
					add(j, RULE_DETACH_PARTITION_BLOCKING, &rel, AccessExclusiveLock, NULL,
						"DETACH PARTITION %s takes ACCESS EXCLUSIVE on partitioned table %s, blocking every query on it",
						quote_identifier(castNode(PartitionCmd, cmd->def)->name->relname), rel.name);
				break;
			default:
				break;
		}
	}
}

/*
 * ADD COLUMN: decides like ATExecAddColumn() whether the table is
 * rewritten (volatile default, serial/identity, stored generated column,
 * constrained domain) or the command fails on existing rows (NOT NULL
 * without a default).
 */
static void
judge_add_column(Judge *j, RelFacts *rel, ColumnDef *col)
{
	Node	   *raw_default = NULL;
	bool		notnull = col->is_not_null;
	const char *why = NULL;
	ListCell   *lc;
	Oid			typid = InvalidOid;
	int32		typmod = -1;
	Type		tup;

	tup = is_serial(col->typeName) ? NULL : LookupTypeName(NULL, col->typeName, &typmod, true);
	if (tup)
	{
		typid = typeTypeId(tup);
		ReleaseSysCache(tup);
	}

	foreach(lc, col->constraints)
	{
		Constraint *con = lfirst_node(Constraint, lc);

		switch (con->contype)
		{
			case CONSTR_DEFAULT:
				raw_default = con->raw_expr;
				break;
			case CONSTR_NOTNULL:
				notnull = true;
				break;
			case CONSTR_IDENTITY:
				why = "an identity column fills every existing row from its sequence";
				break;
			case CONSTR_GENERATED:
				why = "a stored generated column computes every existing row";
				break;
			case CONSTR_CHECK:
			case CONSTR_PRIMARY:
			case CONSTR_UNIQUE:
			case CONSTR_EXCLUSION:
				judge_add_constraint(j, rel, con);
				break;
			default:
				break;
		}
	}

	if (why == NULL && is_serial(col->typeName))
		why = "a serial column fills every existing row from its sequence";
	if (why == NULL && OidIsValid(typid) && DomainHasConstraints(typid))
		why = psprintf("domain %s has constraints, which are checked by rewriting every row",
					   format_type_be(typid));
	if (why == NULL && raw_default && OidIsValid(typid))
	{
		ParseState *ps = make_parsestate(NULL);
		Node	   *cooked = cookDefault(ps, raw_default, typid, typmod, col->colname, '\0');

		if (cooked && check_functions_in_node(cooked, may_be_volatile, NULL))
			why = "its default is volatile, so every existing row gets its own value";
		free_parsestate(ps);
	}

	if (why)
		add(j, RULE_ADD_COLUMN_REWRITE, rel, AccessExclusiveLock, NULL,
			"ADD COLUMN %s rewrites large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE: %s",
			quote_identifier(col->colname), rel->name, rel->bytes / 1024, why);
	else if (notnull && (raw_default == NULL ||
						 (IsA(raw_default, A_Const) && ((A_Const *) raw_default)->isnull)))
		add(j, RULE_ADD_COLUMN_REQUIRED, rel, AccessExclusiveLock, NULL,
			"ADD COLUMN %s NOT NULL without a default fails on table %s, which has rows",
			quote_identifier(col->colname), rel->name);
}

/*
 * ADD PRIMARY KEY USING INDEX sets NOT NULL on the index's columns: each
 * that is nullable is judged as SET NOT NULL (a scan unless a valid CHECK
 * proves it).
 */
static void
judge_primary_key_using_index(Judge *j, RelFacts *rel, Constraint *con)
{
	Oid			indexid = get_relname_relid(con->indexname, get_rel_namespace(rel->relid));
	HeapTuple	tup;
	Form_pg_index index;
	int			k;

	if (!OidIsValid(indexid))
		return;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexid));
	if (!HeapTupleIsValid(tup))
		return;
	index = (Form_pg_index) GETSTRUCT(tup);
	for (k = 0; k < index->indnkeyatts; k++)
	{
		char	   *colname = index->indkey.values[k] > 0 ?
			get_attname(rel->relid, index->indkey.values[k], true) : NULL;

		if (colname)
			judge_set_not_null(j, rel, colname);
	}
	ReleaseSysCache(tup);
}

static void
judge_add_constraint(Judge *j, RelFacts *rel, Constraint *con)
{
	switch (con->contype)
	{
		case CONSTR_FOREIGN:
			if (!con->skip_validation)
				add(j, RULE_FOREIGN_KEY_VALIDATING, rel, ShareRowExclusiveLock, NULL,
					"ADD FOREIGN KEY%s%s checks every row of large table %s while blocking writes to it and to %s",
					con->conname ? " " : "", con->conname ? quote_identifier(con->conname) : "",
					rel->name, quote_identifier(con->pktable->relname));
			break;
		case CONSTR_CHECK:
			if (!con->skip_validation)
				add(j, RULE_CHECK_VALIDATING, rel, AccessExclusiveLock, NULL,
					"ADD CHECK%s%s checks every row of large table %s under ACCESS EXCLUSIVE",
					con->conname ? " " : "", con->conname ? quote_identifier(con->conname) : "",
					rel->name);
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			if (con->indexname == NULL)
				add(j, RULE_UNIQUE_CONSTRAINT_BLOCKING, rel, AccessExclusiveLock, NULL,
					"ADD %s builds an index on large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
					con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
					rel->name, rel->bytes / 1024);
			else if (con->contype == CONSTR_PRIMARY)
				judge_primary_key_using_index(j, rel, con);
			break;
		case CONSTR_EXCLUSION:
			add(j, RULE_EXCLUSION_CONSTRAINT, rel, AccessExclusiveLock, NULL,
				"ADD EXCLUDE builds an index on large table %s (" INT64_FORMAT " kB) and checks every row under ACCESS EXCLUSIVE",
				rel->name, rel->bytes / 1024);
			break;
		default:
			break;
	}
}

/*
 * ALTER COLUMN TYPE: builds the same coercion ATPrepAlterColumnType()
 * builds and asks whether it leaves the stored bytes alone.  A change that
 * does not rewrite still re-checks the column's CHECK constraints with a
 * scan under ACCESS EXCLUSIVE.
 */
static void
judge_column_type(Judge *j, RelFacts *rel, AlterTableCmd *cmd)
{
	ColumnDef  *def = castNode(ColumnDef, cmd->def);
	HeapTuple	atttup;
	Form_pg_attribute att;
	Type		tup;
	Oid			typid;
	int32		typmod;
	const char *why = NULL;
	char	   *checks = NULL;
	Relation	conrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	contup;

	atttup = SearchSysCacheAttName(rel->relid, cmd->name);
	if (!HeapTupleIsValid(atttup))
		return;
	att = (Form_pg_attribute) GETSTRUCT(atttup);
	tup = LookupTypeName(NULL, def->typeName, &typmod, true);
	if (tup == NULL)
	{
		ReleaseSysCache(atttup);
		return;
	}
	typid = typeTypeId(tup);
	ReleaseSysCache(tup);

	if (def->raw_default)
		why = "a USING clause computes every row";
	else
	{
		Node	   *expr = coerce_to_target_type(NULL,
												 (Node *) makeVar(1, att->attnum, att->atttypid,
																  att->atttypmod, att->attcollation, 0),
												 att->atttypid, typid, typmod,
												 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);

		/* no cast at all: the ALTER fails by itself */
		if (expr == NULL)
		{
			ReleaseSysCache(atttup);
			return;
		}
		if (change_requires_rewrite((Node *) expression_planner((Expr *) expr), att->attnum))
			why = psprintf("%s to %s changes the stored values",
						   format_type_with_typemod(att->atttypid, att->atttypmod),
						   format_type_with_typemod(typid, typmod));
	}

	/* CHECK constraints on the column are re-validated by a scan */
	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(rel->relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(contup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(contup);
		bool		isnull;
		Datum		conkey;
		ArrayType  *arr;
		Datum	   *keys;
		int			nkeys;
		int			i;

		if (con->contype != CONSTRAINT_CHECK)
			continue;
		conkey = heap_getattr(contup, Anum_pg_constraint_conkey, RelationGetDescr(conrel), &isnull);
		if (isnull)
			continue;
		arr = DatumGetArrayTypeP(conkey);
		deconstruct_array(arr, INT2OID, sizeof(int16), true, TYPALIGN_SHORT,
						  &keys, NULL, &nkeys);
		for (i = 0; i < nkeys; i++)
			if (DatumGetInt16(keys[i]) == att->attnum)
				checks = checks ? psprintf("%s, %s", checks, quote_identifier(NameStr(con->conname)))
					: pstrdup(quote_identifier(NameStr(con->conname)));
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);

	if (why == NULL && checks)
		why = psprintf("CHECK constraint %s is re-checked on every row", checks);
	if (why)
		add(j, RULE_COLUMN_TYPE_REWRITE, rel, AccessExclusiveLock, NULL,
			"changing the type of column %s of large table %s (" INT64_FORMAT " kB) holds ACCESS EXCLUSIVE for a full pass over the table: %s; the column's statistics are reset too",
			quote_identifier(cmd->name), rel->name, rel->bytes / 1024, why);
	ReleaseSysCache(atttup);
}

/*
 * Mirrors the static ATColumnChangeRequiresRewrite() of tablecmds.c: the
 * planned coercion leaves the stored bytes alone when it is the column
 * itself, a relabelling, an unconstrained domain, or a timestamp <->
 * timestamptz change that the session's TimeZone makes a no-op.
 */
static bool
change_requires_rewrite(Node *expr, AttrNumber attnum)
{
	for (;;)
	{
		if (IsA(expr, Var) && ((Var *) expr)->varattno == attnum)
			return false;
		else if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
		{
			if (DomainHasConstraints(((CoerceToDomain *) expr)->resulttype))
				return true;
			expr = (Node *) ((CoerceToDomain *) expr)->arg;
		}
		else if (IsA(expr, FuncExpr) &&
				 (((FuncExpr *) expr)->funcid == F_TIMESTAMPTZ_TIMESTAMP ||
				  ((FuncExpr *) expr)->funcid == F_TIMESTAMP_TIMESTAMPTZ) &&
				 !TimestampTimestampTzRequiresRewrite())
			expr = linitial(((FuncExpr *) expr)->args);
		else
			return true;
	}
}

/*
 * SET NOT NULL scans unless the table's valid constraints already prove the
 * column is never null (PostgreSQL 12+), which is exactly what
 * PartConstraintImpliedByRelConstraint() decides for an IS NOT NULL test.
 */
static void
judge_set_not_null(Judge *j, RelFacts *rel, const char *colname)
{
	AttrNumber	attnum = get_attnum(rel->relid, colname);
	Relation	r;
	NullTest   *nt;
	bool		implied;

	if (attnum == InvalidAttrNumber)
		return;
	if (rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		/* each partition is checked on its own; judge the whole by its size */
		add(j, RULE_SET_NOT_NULL_SCAN, rel, AccessExclusiveLock, NULL,
			"SET NOT NULL on column %s of partitioned table %s scans every partition that lacks a valid CHECK (%s IS NOT NULL)",
			quote_identifier(colname), rel->name, quote_identifier(colname));
		return;
	}

	r = RelationIdGetRelation(rel->relid);
	if (!RelationIsValid(r))
		return;
	nt = makeNode(NullTest);
	nt->arg = (Expr *) makeVar(1, attnum,
							   TupleDescAttr(r->rd_att, attnum - 1)->atttypid,
							   TupleDescAttr(r->rd_att, attnum - 1)->atttypmod,
							   TupleDescAttr(r->rd_att, attnum - 1)->attcollation, 0);
	nt->nulltesttype = IS_NOT_NULL;
	nt->argisrow = false;
	nt->location = -1;
	implied = TupleDescAttr(r->rd_att, attnum - 1)->attnotnull ||
		PartConstraintImpliedByRelConstraint(r, list_make1(nt));
	RelationClose(r);

	if (!implied)
		add(j, RULE_SET_NOT_NULL_SCAN, rel, AccessExclusiveLock, NULL,
			"SET NOT NULL on column %s scans large table %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE: no valid CHECK (%s IS NOT NULL) proves it",
			quote_identifier(colname), rel->name, rel->bytes / 1024, quote_identifier(colname));
}

/*
 * VALIDATE CONSTRAINT alone takes SHARE UPDATE EXCLUSIVE, which is the safe
 * path; in the transaction that added the constraint the ADD's lock is
 * still held through the scan.  The guard sees that from the constraint's
 * pg_constraint row being written by this transaction, lint from its own
 * replay of the script.
 */
static void
judge_validate(Judge *j, RelFacts *rel, RangeVar *rv, const char *conname)
{
	bool		same = false;
	Oid			conid = get_relation_constraint_oid(rel->relid, conname, true);
	ListCell   *lc;
	char	   *key = psprintf("%s.%s", rv->relname, conname);

	if (OidIsValid(conid))
	{
		HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conid));

		if (HeapTupleIsValid(tup))
		{
			same = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
			ReleaseSysCache(tup);
		}
	}
	foreach(lc, j->jc->not_valid)
		if (strcmp((char *) lfirst(lc), key) == 0)
			same = true;

	if (same)
		add(j, RULE_VALIDATE_SAME_TRANSACTION, rel, AccessExclusiveLock, NULL,
			"VALIDATE CONSTRAINT %s runs in the transaction that added it, so the ADD's lock on large table %s is held through the validation scan",
			quote_identifier(conname), rel->name);
}

/*
 * ATTACH PARTITION scans the new partition unless its valid constraints
 * imply the partition bound, and scans a default partition unless its
 * constraints exclude the new range.  Computed like ATExecAttachPartition()
 * with the exported partition-bound functions.
 */
static void
judge_attach(Judge *j, Oid parentid, PartitionCmd *pc, const char *what)
{
	RelFacts	child;
	Relation	prel;
	Relation	crel;
	PartitionBoundSpec *bound;
	List	   *boundqual;
	List	   *partqual;
	ParseState *ps;
	Oid			defid;

	if (pc->name == NULL || !relrisk_rv(j->jc->created, pc->name, &child))
		child.relid = InvalidOid;
	defid = get_default_partition_oid(parentid);

	/*
	 * Transforming the bound evaluates its expressions: the script's own
	 * code, run by whoever lints it.  A bound of anything but literals and
	 * MINVALUE/MAXVALUE is not evaluated; the scans it might need are
	 * assumed.
	 */
	if (raw_expression_tree_walker((Node *) pc->bound->listdatums, not_literal, NULL) ||
		raw_expression_tree_walker((Node *) pc->bound->lowerdatums, not_literal, NULL) ||
		raw_expression_tree_walker((Node *) pc->bound->upperdatums, not_literal, NULL))
	{
		if (OidIsValid(child.relid))
			add(j, RULE_ATTACH_PARTITION_SCAN, &child, AccessExclusiveLock, NULL,
				"ATTACH PARTITION %s scans it (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE unless a valid CHECK constraint implies its bound, which is not a literal and was not evaluated",
				child.name, child.bytes / 1024);
		if (OidIsValid(defid) && defid != child.relid && relrisk_oid(defid, &child))
			add(j, RULE_ATTACH_PARTITION_SCAN, &child, AccessExclusiveLock, NULL,
				"%s scans default partition %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE unless a valid CHECK constraint excludes the new partition's range, whose bound is not a literal and was not evaluated",
				what, child.name, child.bytes / 1024);
		return;
	}

	prel = RelationIdGetRelation(parentid);
	if (!RelationIsValid(prel))
		return;
	ps = make_parsestate(NULL);
	bound = transformPartitionBound(ps, prel, pc->bound);
	boundqual = get_qual_from_partbound(prel, bound);
	partqual = list_concat(list_copy(boundqual), RelationGetPartitionQual(prel));
	if (partqual)
	{
		/* as ATExecAttachPartition does: the quals are canonical already */
		partqual = (List *) eval_const_expressions(NULL, (Node *) partqual);
		partqual = list_make1(make_ands_explicit(partqual));
	}

	if (OidIsValid(child.relid) && partqual &&
		RelationIsValid(crel = RelationIdGetRelation(child.relid)))
	{
		List	   *mapped = map_partition_varattnos(partqual, 1, crel, prel);

		if (!PartConstraintImpliedByRelConstraint(crel, mapped))
			add(j, RULE_ATTACH_PARTITION_SCAN, &child, AccessExclusiveLock, NULL,
				"ATTACH PARTITION %s scans it (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE: no valid CHECK constraint implies the partition bound",
				child.name, child.bytes / 1024);
		RelationClose(crel);
	}

	if (OidIsValid(defid) && defid != child.relid && relrisk_oid(defid, &child) &&
		RelationIsValid(crel = RelationIdGetRelation(defid)))
	{
		List	   *defqual = map_partition_varattnos(get_proposed_default_constraint(boundqual),
													  1, crel, prel);

		if (!PartConstraintImpliedByRelConstraint(crel, defqual))
			add(j, RULE_ATTACH_PARTITION_SCAN, &child, AccessExclusiveLock, NULL,
				"%s scans default partition %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE: no valid CHECK constraint excludes the new partition's range",
				what, child.name, child.bytes / 1024);
		RelationClose(crel);
	}
	free_parsestate(ps);
	RelationClose(prel);
}

/* For a raw partition bound: anything but a literal or MINVALUE/MAXVALUE. */
static bool
not_literal(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, A_Const))
		return false;
	if (IsA(node, ColumnRef))
		return list_length(((ColumnRef *) node)->fields) != 1;
	if (IsA(node, String))
		return false;
	return true;
}

/*
 * Whether a function of a default may make it volatile, as PostgreSQL
 * judges it after planning, without planning it (planning folds immutable
 * calls, that is, runs them).  The planner inlines a user's SQL function,
 * whose body may be volatile whatever the function is declared: counted as
 * volatile.  Other functions are judged by their declared volatility, as
 * ALTER TABLE itself does.
 */
static bool
may_be_volatile(Oid func_id, void *context)
{
	HeapTuple	tup;
	bool		result;

	if (func_volatile(func_id) == PROVOLATILE_VOLATILE)
		return true;
	if (func_id < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func_id));
	if (!HeapTupleIsValid(tup))
		return true;
	result = ((Form_pg_proc) GETSTRUCT(tup))->prolang == SQLlanguageId;
	ReleaseSysCache(tup);
	return result;
}

/*
 * Counts the relations at risk among those of the given kinds (relkind
 * letters), in schema nspid and tablespace spcid when valid (the
 * database's default is spcid MyDatabaseTableSpace), owned by one of roles
 * (Oids) when not NIL, and returns the largest in *largest.  Other
 * sessions' temporary tables are skipped, as the statements that walk
 * them skip them.
 */
static int
count_at_risk(Judge *j, Oid nspid, Oid spcid, const char *relkinds, List *roles,
			  bool skip_catalogs, RelFacts *largest)
{
	Relation	classrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	RelFacts	rel;
	int			count = 0;

	if (OidIsValid(nspid))
		ScanKeyInit(&key, Anum_pg_class_relnamespace, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(nspid));
	memset(largest, 0, sizeof(*largest));
	classrel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(classrel, InvalidOid, false, NULL, OidIsValid(nspid) ? 1 : 0, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (strchr(relkinds, cls->relkind) == NULL ||
			(skip_catalogs && (IsCatalogNamespace(cls->relnamespace) || cls->relisshared)) ||
			(cls->relpersistence == RELPERSISTENCE_TEMP && !isTempNamespace(cls->relnamespace)) ||
			(OidIsValid(spcid) &&
			 (OidIsValid(cls->reltablespace) ? cls->reltablespace : MyDatabaseTableSpace) != spcid) ||
			(roles != NIL && !list_member_oid(roles, cls->relowner)) ||
			!relrisk_oid(cls->oid, &rel))
			continue;
		count++;
		if (rel.bytes > largest->bytes)
			*largest = rel;
	}
	systable_endscan(scan);
	table_close(classrel, AccessShareLock);
	return count;
}

/*
 * ALTER TABLE/INDEX/MATERIALIZED VIEW ALL IN TABLESPACE moves every such
 * relation in turn, each copied under ACCESS EXCLUSIVE (the system
 * catalogs and shared relations excepted, as the statement skips them).
 */
static void
judge_move_all(Judge *j, AlterTableMoveAllStmt *stmt)
{
	Oid			spcid = get_tablespace_oid(stmt->orig_tablespacename, true);
	Oid			newspc = get_tablespace_oid(stmt->new_tablespacename, true);
	List	   *roles = NIL;
	ListCell   *lc;
	RelFacts	largest;
	int			count;
	const char *what = stmt->objtype == OBJECT_INDEX ? "INDEX" :
		stmt->objtype == OBJECT_MATVIEW ? "MATERIALIZED VIEW" : "TABLE";

	if (!OidIsValid(spcid) || spcid == newspc)
		return;
	if (spcid == DEFAULTTABLESPACE_OID)
		spcid = MyDatabaseTableSpace;
	foreach(lc, stmt->roles)
		roles = lappend_oid(roles, get_rolespec_oid(lfirst(lc), true));
	count = count_at_risk(j, InvalidOid, spcid,
						  stmt->objtype == OBJECT_INDEX ? "i" :
						  stmt->objtype == OBJECT_MATVIEW ? "m" : "r", roles, true, &largest);
	if (count == 1)
		add(j, RULE_SET_TABLESPACE, &largest, AccessExclusiveLock, NULL,
			"ALTER %s ALL IN TABLESPACE %s copies large relation %s (" INT64_FORMAT " kB) under ACCESS EXCLUSIVE",
			what, quote_identifier(stmt->orig_tablespacename), largest.name, largest.bytes / 1024);
	else if (count > 1)
		add(j, RULE_SET_TABLESPACE, &largest, AccessExclusiveLock, NULL,
			"ALTER %s ALL IN TABLESPACE %s copies %d large relations in turn, each under ACCESS EXCLUSIVE; the largest is %s (" INT64_FORMAT " kB)",
			what, quote_identifier(stmt->orig_tablespacename), count, largest.name, largest.bytes / 1024);
}

/*
 * CREATE TABLE ... PARTITION OF scans the parent's default partition under
 * ACCESS EXCLUSIVE for rows the new partition would take, unless the
 * default partition's valid constraints exclude them.
 */
static void
judge_create_partition(Judge *j, CreateStmt *stmt)
{
	PartitionCmd *pc = makeNode(PartitionCmd);
	Oid			parentid;

	if (list_length(stmt->inhRelations) != 1)
		return;
	parentid = RangeVarGetRelid(linitial_node(RangeVar, stmt->inhRelations), NoLock, true);
	if (!OidIsValid(parentid) || get_rel_relkind(parentid) != RELKIND_PARTITIONED_TABLE)
		return;
	pc->bound = stmt->partbound;
	judge_attach(j, parentid, pc, "CREATE TABLE ... PARTITION OF");
}

/*
 * ALTER DOMAIN ADD CONSTRAINT / SET NOT NULL / VALIDATE CONSTRAINT check
 * every column of the domain's type under SHARE.  The columns are found
 * through pg_depend (a column depends on its type), which is indexed,
 * unlike pg_attribute.atttypid.
 */
static void
judge_domain(Judge *j, AlterDomainStmt *stmt)
{
	Type		tup;
	Oid			typid;
	Relation	deprel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	deptup;
	Oid			last = InvalidOid;

	if (!(stmt->subtype == 'O' || stmt->subtype == 'V' ||
		  (stmt->subtype == 'C' && !castNode(Constraint, stmt->def)->skip_validation)))
		return;
	tup = LookupTypeName(NULL, makeTypeNameFromNameList(stmt->typeName), NULL, true);
	if (tup == NULL)
		return;
	typid = typeTypeId(tup);
	ReleaseSysCache(tup);

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(deptup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(deptup);
		RelFacts	rel;

		if (dep->classid != RelationRelationId || dep->objsubid == 0 || dep->objid == last)
			continue;
		last = dep->objid;
		if (!relrisk_oid(dep->objid, &rel) ||
			(rel.relkind != RELKIND_RELATION && rel.relkind != RELKIND_MATVIEW))
			continue;
		touch(j, &rel, ShareLock);
		add(j, RULE_DOMAIN_CONSTRAINT, &rel, ShareLock, NULL,
			"ALTER DOMAIN %s checks every row of large table %s (" INT64_FORMAT " kB) while blocking writes to it",
			format_type_be(typid), rel.name, rel.bytes / 1024);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
}

/*
 * UPDATE on a large table that spares no rows: no WHERE clause, or one that
 * reads only the columns the statement sets (WHERE c IS NULL, the usual
 * backfill).  What it would change is not estimated: that needs parse
 * analysis, which locks the table, and lint takes no locks.
 */
static void
judge_update(Judge *j, UpdateStmt *stmt)
{
	RelFacts	rel;
	List	   *columns = NIL;
	ListCell   *lc;

	/*
	 * UPDATE ONLY a partitioned table has no rows of its own to change;
	 * WHERE CURRENT OF changes one row.
	 */
	if ((stmt->whereClause && IsA(stmt->whereClause, CurrentOfExpr)) ||
		!relrisk_rv(j->jc->created, stmt->relation, &rel) ||
		(rel.relkind != RELKIND_RELATION && rel.relkind != RELKIND_PARTITIONED_TABLE) ||
		(rel.relkind == RELKIND_PARTITIONED_TABLE && !stmt->relation->inh))
		return;
	foreach(lc, stmt->targetList)
		columns = lappend(columns, lfirst_node(ResTarget, lc)->name);
	if (stmt->whereClause && reads_other_columns(stmt->whereClause, columns))
		return;
	add(j, RULE_UPDATE_UNBATCHED, &rel, RowExclusiveLock, hint_backfill_call(j->jc->text, stmt, &rel),
		stmt->whereClause ?
		"UPDATE of large table %s (" INT64_FORMAT " kB) whose WHERE clause reads only the columns it sets can change most rows in one transaction, each locked until it commits" :
		"UPDATE of every row of large table %s (" INT64_FORMAT " kB) in one transaction: each row stays locked until it commits",
		rel.name, rel.bytes / 1024);
}

/*
 * Whether an expression reads a column not in the list, or anything that
 * cannot be told from the text (a subquery, a whole-row reference).
 */
static bool
reads_other_columns(Node *node, List *columns)
{
	ListCell   *lc;

	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
		return true;
	if (IsA(node, ColumnRef))
	{
		Node	   *last = llast(((ColumnRef *) node)->fields);

		if (!IsA(last, String))
			return true;
		foreach(lc, columns)
		{
			if (strcmp(strVal(last), (char *) lfirst(lc)) == 0)
				return false;
		}
		return true;
	}
	return raw_expression_tree_walker(node, reads_other_columns, columns);
}

/*
 * The table_rewrite backstop: names the rule a rewrite of a large table
 * breaks, from the reason ALTER TABLE gives.
 */
List *
judge_rewrite(Oid relid, int reason)
{
	JudgeContext jc;
	Judge		j;
	RelFacts	rel;
	RuleId		rule;

	memset(&jc, 0, sizeof(jc));
	memset(&j, 0, sizeof(j));
	j.jc = &jc;
	if (!relrisk_oid(relid, &rel))
		return NIL;
	if (reason & AT_REWRITE_ALTER_PERSISTENCE)
		rule = RULE_SET_LOGGED;
	else if (reason & AT_REWRITE_ACCESS_METHOD)
		rule = RULE_SET_ACCESS_METHOD;
	else if (reason & AT_REWRITE_DEFAULT_VAL)
		rule = RULE_ADD_COLUMN_REWRITE;
	else
		rule = RULE_COLUMN_TYPE_REWRITE;
	add(&j, rule, &rel, AccessExclusiveLock, NULL,
		"ALTER TABLE is about to rewrite large table %s (" INT64_FORMAT " kB), rewrite reason %d",
		rel.name, rel.bytes / 1024, reason);
	return j.findings;
}

static Oid
rel_am(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		am = ((Form_pg_class) GETSTRUCT(tup))->relam;
		ReleaseSysCache(tup);
	}
	return am;
}

static bool
is_serial(TypeName *tn)
{
	const char *name;

	if (tn == NULL || list_length(tn->names) != 1 || tn->arrayBounds != NIL)
		return false;
	name = strVal(linitial(tn->names));
	return strcmp(name, "serial") == 0 || strcmp(name, "bigserial") == 0 ||
		strcmp(name, "smallserial") == 0 || strcmp(name, "serial2") == 0 ||
		strcmp(name, "serial4") == 0 || strcmp(name, "serial8") == 0;
}

/* Remembers the strongest lock the statement takes on a relation at risk. */
static void
touch(Judge *j, RelFacts *rel, LOCKMODE lockmode)
{
	if (lockmode > j->lockmode)
	{
		j->lockmode = lockmode;
		j->target = *rel;
	}
}

static void
add(Judge *j, RuleId rule, RelFacts *rel, LOCKMODE lockmode, const char *hint,
	const char *fmt,...)
{
	Finding    *f = palloc0(sizeof(Finding));
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	f->rule = rule;
	f->relid = rel->relid;
	f->relation = rel->name ? pstrdup(rel->name) : NULL;
	f->lockmode = lockmode;
	f->message = buf.data;
	f->hint = pstrdup(hint ? hint : migrate_rules[rule].alternative);
	j->findings = lappend(j->findings, f);
}
