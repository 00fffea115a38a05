/*-------------------------------------------------------------------------
 *
 * relation_risk.c
 *	  Whether a statement on a relation can hurt: its size, read without a
 *	  lock, and whether it is new in this transaction or the linted script.
 *
 * Exemptions apply to every rule: a relation that is missing, empty,
 * smaller than migrate.guard_min_size, or created in the current
 * transaction (or earlier in the linted script) locks for milliseconds and
 * passes.
 *
 * src/relation_risk.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>

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
#include "migrate/relation_risk.h"

static int	migrate_guard_min_size = 10240;	/* kB */

static bool created_here(Oid relid);
static int64 relation_bytes(Oid relid, Form_pg_class cls);
static int64 own_bytes(Form_pg_class cls);
static int64 file_bytes(Form_pg_class cls);

/* The setting the size checks below read (the guard and lint share it). */
void
relrisk_init(void)
{
	DefineCustomIntVariable("migrate.guard_min_size",
							"Tables smaller than this pass the DDL-safety guard.",
							"A statement on a small table holds its lock for milliseconds. "
							"The size is the larger of pg_class.relpages and the table's "
							"files on disk, so a freshly loaded table counts.",
							&migrate_guard_min_size,
							10240, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Whether the linted script created a relation of this name earlier (a
 * name without a schema matches a table of that name in any schema).
 */
bool
relrisk_created_in_script(List *created, RangeVar *rv)
{
	ListCell   *lc;

	foreach(lc, created)
	{
		RangeVar   *c = lfirst_node(RangeVar, lc);

		if (strcmp(c->relname, rv->relname) == 0 &&
			(c->schemaname == NULL || rv->schemaname == NULL ||
			 strcmp(c->schemaname, rv->schemaname) == 0))
			return true;
	}
	return false;
}

/* relrisk_oid() of a name, unless the linted script created it */
bool
relrisk_rv(List *created, RangeVar *rv, RelFacts *out)
{
	memset(out, 0, sizeof(*out));
	if (rv == NULL || relrisk_created_in_script(created, rv))
		return false;
	return relrisk_oid(RangeVarGetRelid(rv, NoLock, true), out);
}

/*
 * Whether a statement on this relation can hurt: it exists, is not new in
 * this transaction, and is at least migrate.guard_min_size (and not empty).
 */
bool
relrisk_oid(Oid relid, RelFacts *out)
{
	HeapTuple	tup;
	Form_pg_class cls;

	memset(out, 0, sizeof(*out));
	if (!OidIsValid(relid))
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	cls = (Form_pg_class) GETSTRUCT(tup);
	out->relkind = cls->relkind;
	out->bytes = relation_bytes(relid, cls);
	if (out->bytes == 0 || out->bytes < (int64) migrate_guard_min_size * 1024 ||
		(TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)) &&
		 created_here(relid)))
	{
		ReleaseSysCache(tup);
		return false;
	}
	out->relid = relid;
	out->name = quote_qualified_identifier(get_namespace_name(cls->relnamespace),
										   NameStr(cls->relname));
	ReleaseSysCache(tup);
	return true;
}

/* schema.name of a relation, quoted, for hints */
char *
relrisk_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Created in the current transaction (or subtransaction)?  Only asked when
 * this transaction wrote the relation's pg_class row, which any ALTER does
 * too, so the answer comes from the relcache entry's creation
 * subtransaction.  Such a relation is in the relcache already (this
 * transaction touched it), so looking it up opens nothing and needs no lock.
 */
static bool
created_here(Oid relid)
{
	Relation	r = RelationIdGetRelation(relid);
	bool		created;

	if (!RelationIsValid(r))
		return false;
	created = r->rd_createSubid != InvalidSubTransactionId;
	RelationClose(r);
	return created;
}

/*
 * Size of a relation in bytes, without taking a lock on it.
 *
 * pg_class.relpages is only as fresh as the last VACUUM, ANALYZE or CREATE
 * INDEX: a table bulk-loaded since then reads 0.  Opening the relation to
 * ask smgr would need a lock (relation_open asserts one) and taking
 * AccessShareLock before the DDL's own lock would be a lock upgrade that
 * can deadlock.  So the files are stat()ed by path: that takes no lock,
 * opens no smgr relation and reflects every write so far.  A concurrent
 * DROP or TRUNCATE only makes the answer stale, which is harmless for an
 * estimate; the DDL itself runs under its own lock.  The larger of the two
 * figures wins.  A partitioned table is the sum of its leaves.
 */
static int64
relation_bytes(Oid relid, Form_pg_class cls)
{
	int64		bytes = 0;

	/*
	 * A partitioned table is its partitions; a table with inheritance
	 * children is judged with them, since ALTER TABLE without ONLY (a CHECK,
	 * SET NOT NULL, a type change) works through every one of them.
	 */
	if (cls->relkind == RELKIND_PARTITIONED_TABLE ||
		(cls->relkind == RELKIND_RELATION && cls->relhassubclass))
	{
		ListCell   *lc;

		if (cls->relkind == RELKIND_RELATION)
			bytes = own_bytes(cls);
		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		{
			HeapTuple	tup;

			if (lfirst_oid(lc) == relid)
				continue;
			tup = SearchSysCache1(RELOID, ObjectIdGetDatum(lfirst_oid(lc)));
			if (!HeapTupleIsValid(tup))
				continue;
			if (((Form_pg_class) GETSTRUCT(tup))->relkind != RELKIND_PARTITIONED_TABLE)
				bytes += own_bytes((Form_pg_class) GETSTRUCT(tup));
			ReleaseSysCache(tup);
		}
		return bytes;
	}
	return own_bytes(cls);
}

/*
 * One relation's own size, with its TOAST table: what a rewrite copies and
 * a scan of wide values reads (a small heap may hold little but pointers
 * to a large TOAST table).
 */
static int64
own_bytes(Form_pg_class cls)
{
	int64		bytes = Max((int64) cls->relpages * BLCKSZ, file_bytes(cls));

	if (OidIsValid(cls->reltoastrelid))
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(cls->reltoastrelid));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_class toast = (Form_pg_class) GETSTRUCT(tup);

			bytes += Max((int64) toast->relpages * BLCKSZ, file_bytes(toast));
			ReleaseSysCache(tup);
		}
	}
	return bytes;
}

/* Bytes in the main fork's segment files, 0 where the path is not known. */
static int64
file_bytes(Form_pg_class cls)
{
	bool		temp = cls->relpersistence == RELPERSISTENCE_TEMP;
	Oid			spcoid;
	char	   *path;
	int64		total = 0;
	int			segno;

	/* mapped catalogs have no relfilenode here; their relpages will do */
	if (!OidIsValid(cls->relfilenode))
		return 0;
	/* another session's temporary table cannot be touched anyway */
	if (temp && !isTempOrTempToastNamespace(cls->relnamespace))
		return 0;
	spcoid = OidIsValid(cls->reltablespace) ? cls->reltablespace : MyDatabaseTableSpace;
	path = migrate_main_fork_path(spcoid == GLOBALTABLESPACE_OID ? InvalidOid : MyDatabaseId,
								  spcoid, cls->relfilenode, temp);

	for (segno = 0;; segno++)
	{
		struct stat st;
		char	   *seg = segno == 0 ? path : psprintf("%s.%d", path, segno);

		if (stat(seg, &st) != 0)
			break;
		total += st.st_size;
	}
	return total;
}
