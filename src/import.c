/*-------------------------------------------------------------------------
 *
 * import.c
 *	  Adopting a database another tool migrated: migrate_import_history()
 *	  reads that tool's history table into migrate.history,
 *	  migrate_baseline() marks migrations applied without running them, and
 *	  migrate_unregister() removes a migration that never ran.
 *
 * The folder is registered first (pg_migrate import does both); the
 * import maps every version of the other tool's history onto a registered
 * migration.  A version the folder lacks, or a file that differs from the
 * checksum the tool kept of it (Flyway's CRC32, Prisma's sha256, sqitch's
 * sha1), fails the whole import, naming the version: nothing is imported,
 * since a history that does not describe the folder cannot be trusted for
 * any of it.  A version migrate has already recorded keeps migrate's
 * record.
 *
 * None of these is SECURITY DEFINER: the other tool's table is found on
 * the caller's search_path, as the tool itself finds it, and read with the
 * caller's rights; only the writes to migrate.* run as the extension owner
 * (catalog_become_owner), and only the owner of a migration (a member, a
 * superuser) may mark it.  The tables are named from the catalog and
 * quoted, never from input.
 *
 * src/import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_crc.h"
#include "utils/timestamp.h"

#include "migrate/compat.h"
#include "migrate/migrate.h"
#include "migrate/util.h"
#include "migrate/run_catalog.h"
#include "migrate/script.h"
#include "migrate/shared.h"

PG_FUNCTION_INFO_V1(migrate_import_history);
PG_FUNCTION_INFO_V1(migrate_tool_checksum);
PG_FUNCTION_INFO_V1(migrate_baseline);
PG_FUNCTION_INFO_V1(migrate_unregister);

typedef enum ImportTool
{
	TOOL_FLYWAY,
	TOOL_GOLANG,
	TOOL_DBMATE,
	TOOL_PRISMA,
	TOOL_GOOSE,
	TOOL_NODEPG,
	TOOL_SQITCH,
	TOOL_COUNT
} ImportTool;

/* What a tool's checksum is of the file. */
typedef enum ToolChecksum
{
	SUM_NONE,
	SUM_FLYWAY_CRC32,
	SUM_SHA256,
	SUM_SHA1
} ToolChecksum;

/*
 * Each tool's history table, and the query that reads it as rows of
 * (key, description, state, applied_at, applied_by, duration_ms, checksum,
 * where, error): key is the version (for sqitch the change's name), state
 * one of applied, failed, rolled_back, baseline (Flyway: every version up
 * to it counts as applied), up_to and dirty (golang-migrate: every version
 * up to it applied, or that one failed), skip.  %1$s is the table, %2$s its
 * schema.
 */
typedef struct ToolDef
{
	const char *name;			/* as pg_migrate --format names it */
	const char *schema;			/* NULL: found on the search_path */
	const char *table;
	const char *tell_apart;		/* a column it has and its namesake not */
	bool		has_column;		/* whether tell_apart must be there */
	ToolChecksum checksum;
	bool		by_name;		/* key is a migration name, not a version */
	const char *query;
} ToolDef;

static const ToolDef tools[TOOL_COUNT] = {
	[TOOL_FLYWAY] = {"flyway", NULL, "flyway_schema_history", NULL, false, SUM_FLYWAY_CRC32, false,
		/* the latest row of a version: repair's DELETE rows hide older ones */
		"SELECT f.version, f.description, "
		"  CASE WHEN f.type = 'BASELINE' THEN 'baseline' "
		"       WHEN f.type IN ('SCHEMA', 'DELETE') THEN 'skip' "
		"       WHEN NOT f.success THEN 'failed' "
		"       WHEN f.type LIKE 'UNDO%%' THEN 'rolled_back' "
		"       ELSE 'applied' END, "
		"  f.installed_on::timestamptz, f.installed_by::text, f.execution_time::float8, "
		"  f.checksum::text, 'installed_rank ' || f.installed_rank, "
		"  CASE WHEN NOT f.success THEN 'failed under Flyway (' || f.script || ')' END "
		"FROM (SELECT DISTINCT ON (h.version) h.* FROM %1$s h WHERE h.version IS NOT NULL "
		"      ORDER BY h.version, h.installed_rank DESC) f "
		"ORDER BY f.installed_rank"},
	[TOOL_GOLANG] = {"golang-migrate", NULL, "schema_migrations", "dirty", true, SUM_NONE, false,
		/* one row; a negative version (NilVersion) means nothing applied */
		"SELECT s.version::text, NULL, CASE WHEN s.dirty THEN 'dirty' ELSE 'up_to' END, "
		"  NULL::timestamptz, NULL, NULL::float8, NULL, "
		"  'version ' || s.version || CASE WHEN s.dirty THEN ' (dirty)' ELSE '' END, "
		"  CASE WHEN s.dirty THEN 'golang-migrate left it dirty: it failed or was interrupted' END "
		"FROM %1$s s WHERE s.version >= 0"},
	[TOOL_DBMATE] = {"dbmate", NULL, "schema_migrations", "dirty", false, SUM_NONE, false,
		"SELECT s.version::text, NULL, 'applied', NULL::timestamptz, NULL, NULL::float8, NULL, "
		"  'version ' || s.version, NULL "
		"FROM %1$s s ORDER BY s.version"},
	[TOOL_PRISMA] = {"prisma", NULL, "_prisma_migrations", NULL, false, SUM_SHA256, false,
		/* the latest attempt of a migration; resolve --rolled-back marks a failed one */
		"SELECT substring(p.migration_name FROM '^[0-9]+'), "
		"  substring(p.migration_name FROM '^[0-9]+_?(.*)$'), "
		"  CASE WHEN p.rolled_back_at IS NOT NULL THEN 'rolled_back' "
		"       WHEN p.finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END, "
		"  coalesce(p.finished_at, p.rolled_back_at, p.started_at), NULL, "
		"  extract(epoch FROM p.finished_at - p.started_at)::float8 * 1000, "
		"  p.checksum, 'migration_name ' || p.migration_name, "
		"  CASE WHEN p.finished_at IS NULL AND p.rolled_back_at IS NULL "
		"       THEN coalesce(nullif(p.logs, ''), 'failed under Prisma') END "
		"FROM (SELECT DISTINCT ON (m.migration_name) m.* FROM %1$s m "
		"      ORDER BY m.migration_name, m.started_at DESC, m.id DESC) p "
		"ORDER BY p.started_at"},
	[TOOL_GOOSE] = {"goose", NULL, "goose_db_version", NULL, false, SUM_NONE, false,
		/* version 0 is the row goose creates with its table */
		"SELECT g.version_id::text, NULL, "
		"  CASE WHEN g.is_applied THEN 'applied' ELSE 'rolled_back' END, "
		"  g.tstamp::timestamptz, NULL, NULL::float8, NULL, 'id ' || g.id, NULL "
		"FROM (SELECT DISTINCT ON (v.version_id) v.* FROM %1$s v WHERE v.version_id <> 0 "
		"      ORDER BY v.version_id, v.id DESC) g "
		"ORDER BY g.id"},
	[TOOL_NODEPG] = {"node-pg-migrate", NULL, "pgmigrations", NULL, false, SUM_NONE, false,
		"SELECT substring(n.name FROM '^[0-9]+'), substring(n.name FROM '^[0-9]+_?(.*)$'), "
		"  'applied', n.run_on::timestamptz, NULL, NULL::float8, NULL, 'name ' || n.name, NULL "
		"FROM %1$s n ORDER BY n.id"},
	[TOOL_SQITCH] = {"sqitch", "sqitch", "changes", NULL, false, SUM_SHA1, true,
		/* deployed changes, and the ones whose last event is a failed deploy */
		"SELECT * FROM ("
		"  SELECT c.change, NULL, 'applied', c.committed_at, c.committer_name::text, "
		"    NULL::float8, c.script_hash::text, 'change_id ' || c.change_id, NULL "
		"  FROM %1$s c "
		"  UNION ALL "
		"  SELECT e.change, NULL, 'failed', e.committed_at, e.committer_name::text, "
		"    NULL::float8, NULL, 'change_id ' || e.change_id, 'sqitch deploy failed' "
		"  FROM (SELECT DISTINCT ON (v.change_id) v.* FROM %2$s.events v "
		"        ORDER BY v.change_id, v.committed_at DESC) e "
		"  WHERE e.event = 'fail' "
		"    AND NOT EXISTS (SELECT 1 FROM %1$s c WHERE c.change_id = e.change_id)"
		") r ORDER BY 4"},
};

/* A row of the other tool's history, as its query returns it. */
typedef struct ForeignRow
{
	char	   *key;
	char	   *description;
	char	   *state;
	TimestampTz applied_at;		/* 0: not kept */
	char	   *applied_by;
	double		duration_ms;	/* < 0: not kept */
	char	   *checksum;
	char	   *where;
	char	   *error;
} ForeignRow;

/* A migration the import will mark, and how. */
typedef struct Planned
{
	RegisteredMigration *r;
	AdoptedAttempt a;
} Planned;

typedef struct ImportContext
{
	const ToolDef *tool;
	char	   *table;			/* qualified and quoted, for queries */
	char	   *shown;			/* as messages name it */
	List	   *files;			/* the caller's file texts: version, text, ... */
	List	   *planned;
	StringInfoData problems;
	int			nproblems;
	char	   *first_problem;	/* errmsg of the first */
	bool		first_is_drift;
	const char *row_where;		/* the row being read, for the error context */
	char	   *who;			/* the caller, who imports */
} ImportContext;

static bool find_table(const ToolDef *tool, Oid *relid);
static ImportTool detect_tool(const char *name, Oid *relid);
static List *read_rows(ImportContext *cx);
static void plan_row(ImportContext *cx, ForeignRow *row, List *seen_names);
static void plan_up_to(ImportContext *cx, ForeignRow *row, bool through);
static bool planned_already(ImportContext *cx, const char *version);
static void problem(ImportContext *cx, bool drift, const char *msg, const char *detail);
static const char *file_text(ImportContext *cx, RegisteredMigration *r);
static bool checksum_matches(ToolChecksum kind, const char *text, const char *stored,
							 char **computed);
static void import_error_context(void *arg);

/*
 * Flyway's checksum of a file: CRC-32 over the UTF-8 bytes of each line
 * without its line ending (Java's readLine ends a line at \n, \r or \r\n),
 * a byte order mark before the first line left out, kept as a signed int.
 */
static int32
import_flyway_checksum(const char *text, size_t len)
{
	pg_crc32	crc;
	const char *p = text;
	const char *end = text + len;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	INIT_TRADITIONAL_CRC32(crc);
	while (p < end)
	{
		const char *eol = p;

		while (eol < end && *eol != '\n' && *eol != '\r')
			eol++;
		COMP_TRADITIONAL_CRC32(crc, p, eol - p);
		p = eol;
		while (p < end && (*p == '\n' || *p == '\r'))
			p++;
	}
	FIN_TRADITIONAL_CRC32(crc);
	return (int32) crc;
}

/*
 * migrate_tool_checksum(tool, script): the checksum another tool keeps of a
 * file (Flyway's CRC-32, Prisma's sha256, sqitch's sha1), the one an import
 * compares; pg_migrate writes the same into a tool's history table.
 */
Datum
migrate_tool_checksum(PG_FUNCTION_ARGS)
{
	char	   *tool = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *script = PG_GETARG_TEXT_PP(1);
	const char *data = VARDATA_ANY(script);
	size_t		len = VARSIZE_ANY_EXHDR(script);
	char	   *sum;

	if (strcmp(tool, "flyway") == 0)
		sum = psprintf("%d", import_flyway_checksum(data, len));
	else if (strcmp(tool, "prisma") == 0)
		sum = script_digest(data, len, PG_SHA256);
	else if (strcmp(tool, "sqitch") == 0)
		sum = script_digest(data, len, PG_SHA1);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tool \"%s\" keeps no checksum of its files", tool),
				 errhint("Pass flyway, prisma or sqitch.")));
	PG_RETURN_TEXT_P(cstring_to_text(sum));
}

/* Prisma's early rendering of a digest: each byte without a leading zero. */
static char *
unpadded_hex(const char *hex)
{
	StringInfoData out;

	initStringInfo(&out);
	for (const char *p = hex; p[0] && p[1]; p += 2)
	{
		if (p[0] != '0')
			appendStringInfoChar(&out, p[0]);
		appendStringInfoChar(&out, p[1]);
	}
	return out.data;
}

/* s with every "from" replaced by "to". */
static char *
replace_all(const char *s, const char *from, const char *to)
{
	StringInfoData out;
	size_t		n = strlen(from);

	initStringInfo(&out);
	while (*s)
	{
		if (strncmp(s, from, n) == 0)
		{
			appendStringInfoString(&out, to);
			s += n;
		}
		else
			appendStringInfoChar(&out, *s++);
	}
	return out.data;
}

/*
 * Whether text is the file the tool checksummed as stored; *computed is
 * the tool's checksum of text, for the message.  Prisma also accepts the
 * file with its line endings converted either way (git changes them) and
 * its early unpadded hex.
 */
static bool
checksum_matches(ToolChecksum kind, const char *text, const char *stored, char **computed)
{
	switch (kind)
	{
		case SUM_FLYWAY_CRC32:
			*computed = psprintf("%d", import_flyway_checksum(text, strlen(text)));
			return strcmp(*computed, stored) == 0;
		case SUM_SHA1:
			*computed = script_digest(text, strlen(text), PG_SHA1);
			return pg_strcasecmp(*computed, stored) == 0;
		case SUM_SHA256:
			{
				const char *variants[3];

				*computed = script_digest(text, strlen(text), PG_SHA256);
				variants[0] = text;
				variants[1] = replace_all(text, "\r\n", "\n");
				variants[2] = replace_all(variants[1], "\n", "\r\n");
				for (int i = 0; i < 3; i++)
				{
					char	   *hex = i == 0 ? *computed :
						script_digest(variants[i], strlen(variants[i]), PG_SHA256);

					if (strcmp(hex, stored) == 0 ||
						(strlen(stored) != 64 && strcmp(unpadded_hex(hex), stored) == 0))
						return true;
				}
				return false;
			}
		case SUM_NONE:
			break;
	}
	return true;
}

/* The tool's table, if it exists (and is that tool's). */
static bool
find_table(const ToolDef *tool, Oid *relid)
{
	if (tool->schema)
	{
		Oid			nsp = get_namespace_oid(tool->schema, true);

		*relid = OidIsValid(nsp) ? get_relname_relid(tool->table, nsp) : InvalidOid;
	}
	else
		*relid = RelnameGetRelid(tool->table);
	if (!OidIsValid(*relid))
		return false;
	if (tool->tell_apart)
		return (get_attnum(*relid, tool->tell_apart) != InvalidAttrNumber) == tool->has_column;
	return true;
}

static ImportTool
detect_tool(const char *name, Oid *relid)
{
	StringInfoData found;
	ImportTool	which = TOOL_COUNT;
	int			nfound = 0;

	if (strcmp(name, "auto") != 0)
	{
		for (int t = 0; t < TOOL_COUNT; t++)
			if (strcmp(name, tools[t].name) == 0)
			{
				if (!find_table(&tools[t], relid))
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_TABLE),
							 errmsg("no %s history table \"%s\" found", tools[t].name,
									tools[t].schema ? psprintf("%s.%s", tools[t].schema, tools[t].table) :
									tools[t].table),
							 tools[t].schema ? 0 :
							 errdetail("It is looked for on the search_path, as %s looks for it.", tools[t].name),
							 errhint("SET search_path to the schema that holds it, then import again.")));
				return (ImportTool) t;
			}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown tool \"%s\"", name),
				 errhint("Use 'auto', 'flyway', 'golang-migrate', 'dbmate', 'prisma', 'goose', 'node-pg-migrate' or 'sqitch'.")));
	}

	initStringInfo(&found);
	for (int t = 0; t < TOOL_COUNT; t++)
	{
		Oid			r;

		if (!find_table(&tools[t], &r))
			continue;
		appendStringInfo(&found, "%s%s (%s)", nfound > 0 ? ", " : "", tools[t].table, tools[t].name);
		nfound++;
		which = (ImportTool) t;
		*relid = r;
	}
	if (nfound == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("no history table of another tool found"),
				 errdetail("Looked on the search_path for flyway_schema_history, schema_migrations (golang-migrate or dbmate), _prisma_migrations, goose_db_version and pgmigrations, and for sqitch.changes."),
				 errhint("SET search_path to the schema that holds it, or name the tool: migrate_import_history('flyway').")));
	if (nfound > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("found the history tables of %d tools: %s", nfound, found.data),
				 errhint("Name the tool whose history to import, e.g. migrate_import_history('%s').",
						 tools[which].name)));
	return which;
}

static void
import_error_context(void *arg)
{
	ImportContext *cx = arg;

	if (cx->row_where)
		errcontext("importing %s of %s", cx->row_where, cx->shown);
}

/* The tool's rows, read as the caller. */
static List *
read_rows(ImportContext *cx)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *rows = NIL;
	char	   *schema_q = (char *) quote_identifier(cx->tool->schema ? cx->tool->schema : "");
	uint64		i;

	SPI_connect();
	if (SPI_execute(psprintf(cx->tool->query, cx->table, schema_q), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", cx->shown);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ForeignRow *row = MemoryContextAllocZero(outer, sizeof(ForeignRow));
		bool		isnull;
		Datum		d;
		MemoryContext old;

#define COLSTR(n) (SPI_getvalue(tup, desc, (n)) ? MemoryContextStrdup(outer, SPI_getvalue(tup, desc, (n))) : NULL)
		row->key = COLSTR(1);
		row->description = COLSTR(2);
		row->state = COLSTR(3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		row->applied_at = isnull ? 0 : DatumGetTimestampTz(d);
		row->applied_by = COLSTR(5);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		row->duration_ms = isnull ? -1 : DatumGetFloat8(d);
		row->checksum = COLSTR(7);
		row->where = COLSTR(8);
		row->error = COLSTR(9);
#undef COLSTR
		old = MemoryContextSwitchTo(outer);
		rows = lappend(rows, row);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return rows;
}

static void
problem(ImportContext *cx, bool drift, const char *msg, const char *detail)
{
	if (cx->nproblems++ == 0)
	{
		cx->first_problem = pstrdup(msg);
		cx->first_is_drift = drift;
	}
	appendStringInfo(&cx->problems, "%s%s", cx->problems.len > 0 ? "\n" : "", detail);
}

static bool
planned_already(ImportContext *cx, const char *version)
{
	ListCell   *lc;

	foreach(lc, cx->planned)
		if (strcmp(((Planned *) lfirst(lc))->r->def.version, version) == 0)
			return true;
	return false;
}

/* The text of the migration's file, as the caller passed it, or its script. */
static const char *
file_text(ImportContext *cx, RegisteredMigration *r)
{
	ListCell   *lc;

	for (lc = list_head(cx->files); lc; lc = lnext(cx->files, lnext(cx->files, lc)))
		if (strcmp(lfirst(lc), r->def.version) == 0)
			return lfirst(lnext(cx->files, lc));
	return r->def.up_sql;
}

static void
add_planned(ImportContext *cx, RegisteredMigration *r, ForeignRow *row, MigrationState state,
			const char *note)
{
	Planned    *p = palloc0(sizeof(Planned));

	p->r = r;
	p->a.state = state;
	p->a.finished_at = row->applied_at;
	p->a.duration_ms = row->duration_ms;
	p->a.role = row->applied_by;
	p->a.error_message = state == MIGRATION_FAILED ? row->error : NULL;
	p->a.note = note;
	cx->planned = lappend(cx->planned, p);
}

/*
 * Maps one row (applied, failed, rolled_back, or the version of up_to and
 * dirty) onto its registered migration, checking the file's checksum for
 * an applied one.  seen_names counts earlier rows of the same name, for a
 * sqitch change reworked under the same name.
 */
static void
plan_row(ImportContext *cx, ForeignRow *row, List *seen_names)
{
	List	   *found;
	RegisteredMigration *r;
	const char *state = row->state;
	char	   *computed;
	const char *what = row->description ? psprintf(" (\"%s\", %s)", row->description, row->where) :
		psprintf(" (%s)", row->where);

	if (row->key == NULL)
	{
		problem(cx, false, psprintf("%s has a row without a version", cx->shown),
				psprintf("%s has no version number in %s.", cx->shown, row->where));
		return;
	}
	if (cx->tool->by_name)
	{
		int			nth = 0;
		ListCell   *lc;

		foreach(lc, seen_names)
			nth += strcmp(lfirst(lc), row->key) == 0;
		found = catalog_find(CATALOG_MATCH_NAME, row->key);
		r = nth < list_length(found) ? list_nth(found, nth) : NULL;
	}
	else
	{
		found = catalog_find(CATALOG_MATCH_VERSION, row->key);
		r = found ? linitial(found) : NULL;
	}
	if (r == NULL)
	{
		problem(cx, false,
				psprintf("%s %s of %s is not registered", cx->tool->by_name ? "change" : "version",
						 row->key, cx->shown),
				psprintf("%s has %s %s%s, which is not a registered migration.", cx->shown,
						 cx->tool->by_name ? "change" : "version", row->key, what));
		return;
	}
	if (strcmp(state, "up_to") == 0)
		state = "applied";
	else if (strcmp(state, "dirty") == 0)
		state = "failed";
	if (planned_already(cx, r->def.version))
		return;
	/* a version migrate has recorded is checked against migrate's own checksum */
	if (!r->latest.exists && strcmp(state, "applied") == 0 && row->checksum &&
		row->checksum[0] != '\0' &&
		!checksum_matches(cx->tool->checksum, file_text(cx, r), row->checksum, &computed))
	{
		problem(cx, true,
				psprintf("migration %s differs from what %s applied", r->def.version, cx->tool->name),
				psprintf("%s recorded checksum %s for %s%s; %s has %s.", cx->shown, row->checksum,
						 r->def.version, what,
						 r->source ? psprintf("the file \"%s\"", r->source) : "the registered script",
						 computed));
		return;
	}
	add_planned(cx, r, row, migration_state_parse(state),
				psprintf("imported by %s from %s (%s)", cx->who,
						 cx->shown, row->where));
}

/*
 * golang-migrate's version and Flyway's baseline: every registered version
 * below it (through: and it) that has no row of its own counts as applied.
 */
static void
plan_up_to(ImportContext *cx, ForeignRow *row, bool through)
{
	List	   *found = catalog_find(CATALOG_MATCH_UP_TO, row->key);
	List	   *itself = catalog_find(CATALOG_MATCH_VERSION, row->key);
	const char *version = itself ? ((RegisteredMigration *) linitial(itself))->def.version : NULL;
	ListCell   *lc;

	foreach(lc, found)
	{
		RegisteredMigration *r = lfirst(lc);
		bool		is_it = version && strcmp(version, r->def.version) == 0;

		if ((is_it && !through) || planned_already(cx, r->def.version))
			continue;
		add_planned(cx, r, row, MIGRATION_APPLIED,
					psprintf("imported by %s from %s: %s %s %s", cx->who, cx->shown,
							 is_it ? "at" : "below",
							 strcmp(row->state, "baseline") == 0 ? "its baseline" : "its version",
							 row->key));
	}
}

/*
 * migrate_import_history(tool, files): imports the history of another tool
 * ('auto': the one whose table is there).  files maps a version to the
 * text of its file where that differs from the registered script (a
 * BEGIN/COMMIT pg_migrate cut), for the checksums; pg_migrate import passes
 * it.  Returns the migrations imported.
 */
Datum
migrate_import_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *toolname = PG_ARGISNULL(0) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	ImportContext cx = {0};
	ErrorContextCallback errcb;
	Oid			relid;
	List	   *rows;
	List	   *seen_names = NIL;
	ListCell   *lc;
	CatalogUser user;
	int			nestlevel;
	int			kept = 0;
	Oid			caller = GetUserId();

	(void) catalog_version_ok(ERROR);
	migrate_require_no_run("import another tool's history", "import");
	migrate_init_srf(fcinfo);

	/* found on the caller's search_path, before it is made safe */
	cx.tool = &tools[detect_tool(toolname, &relid)];
	cx.table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	cx.shown = cx.table;
	/* the caller's rights: said plainly rather than from inside the query */
	if (pg_class_aclcheck(relid, caller, ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));
	cx.who = GetUserNameFromId(caller, false);
	initStringInfo(&cx.problems);

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	rows = read_rows(&cx);
	if (!PG_ARGISNULL(1))
	{
		Oid			types[1] = {JSONBOID};
		Datum		values[1] = {PG_GETARG_DATUM(1)};
		MemoryContext outer = CurrentMemoryContext;
		uint64		i;

		SPI_connect();
		if (SPI_execute_with_args("SELECT key, value FROM jsonb_each_text($1)", 1, types, values,
								  NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the files argument");
		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			cx.files = lappend(cx.files, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
			cx.files = lappend(cx.files, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}

	catalog_become_owner(&user);
	errcb.callback = import_error_context;
	errcb.arg = &cx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	foreach(lc, rows)
	{
		ForeignRow *row = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		cx.row_where = row->where;
		if (strcmp(row->state, "skip") == 0 || strcmp(row->state, "baseline") == 0)
			continue;
		if (!cx.tool->by_name && row->key)
			(void) script_version_key(row->key);	/* a version migrate accepts */
		plan_row(&cx, row, seen_names);
		if (cx.tool->by_name && row->key)
			seen_names = lappend(seen_names, row->key);
	}
	/* the rows of their own first, then what lies below a version */
	foreach(lc, rows)
	{
		ForeignRow *row = lfirst(lc);

		cx.row_where = row->where;
		/* a dirty version itself failed; a baseline includes its own version */
		if (strcmp(row->state, "baseline") == 0 || strcmp(row->state, "up_to") == 0 ||
			strcmp(row->state, "dirty") == 0)
			plan_up_to(&cx, row, strcmp(row->state, "dirty") != 0);
	}
	cx.row_where = NULL;
	error_context_stack = errcb.previous;

	if (cx.nproblems > 0)
		ereport(ERROR,
				(errcode(cx.first_is_drift ? ERRCODE_DATA_EXCEPTION : ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s", cx.first_problem),
				 errdetail("%s\nNothing was imported.", cx.problems.data),
				 cx.first_is_drift ?
				 errhint("Restore the file as it was when %s applied it, and put the change in a new migration.",
						 cx.tool->name) :
				 errhint("Register the folder the history comes from first (pg_migrate import does), with every migration %s applied.",
						 cx.tool->name)));

	foreach(lc, cx.planned)
	{
		Planned    *p = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		/* migrate's own record of a version wins over the other tool's */
		if (p->r->latest.exists)
		{
			kept++;
			continue;
		}
		catalog_check_owner(p->r->def.version, p->r->def.owner, caller, "import");
		catalog_history_mark(&p->r->def, HISTORY_IMPORT, &p->a, caller);

		values[0] = CStringGetTextDatum(p->r->def.version);
		values[1] = CStringGetTextDatum(p->r->def.name);
		values[2] = CStringGetTextDatum(migration_state_name(p->a.state));
		values[3] = TimestampTzGetDatum(p->a.finished_at);
		nulls[3] = p->a.finished_at == 0;
		values[4] = DirectFunctionCall1(namein, CStringGetDatum(p->a.role ? p->a.role :
																GetUserNameFromId(caller, false)));
		values[5] = CStringGetTextDatum(cx.shown);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	if (kept > 0)
		ereport(NOTICE,
				(errmsg("%d migrations of %s already have a history in migrate, which was kept", kept, cx.shown)));
	return (Datum) 0;
}

/*
 * migrate_baseline(version): the database already has every registered
 * migration up to version (it was built another way): marks those that
 * are not applied applied, without running them.  A failed or interrupted
 * one is left to migrate_resolve(), which settles it after a look.
 */
Datum
migrate_baseline(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *version = text_arg(fcinfo, 0, "version");
	Oid			caller = GetUserId();
	char	   *who = GetUserNameFromId(caller, false);
	CatalogUser user;
	int			nestlevel;
	List	   *found;
	ListCell   *lc;

	script_check_version(version, "version");
	(void) catalog_version_ok(ERROR);
	migrate_require_no_run("baseline migrations", "baseline");
	migrate_init_srf(fcinfo);
	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	if (catalog_find(CATALOG_MATCH_VERSION, version) == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("migration %s is not registered", version),
				 errhint("Register the folder first (pg_migrate baseline does), then baseline up to one of its versions.")));
	found = catalog_find(CATALOG_MATCH_UP_TO, version);
	foreach(lc, found)
	{
		RegisteredMigration *r = lfirst(lc);

		if (r->latest.exists && (r->latest.state == MIGRATION_FAILED ||
								 r->latest.state == MIGRATION_RUNNING))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration %s is %s", r->def.version,
							r->latest.state == MIGRATION_FAILED ? "failed" : "interrupted"),
					 errdetail("A baseline marks migrations that did not run; this one was attempted. Nothing was marked."),
					 errhint("Settle it first: after a manual fix, migrate_resolve('%s', 'applied').",
							 r->def.version)));
	}
	foreach(lc, found)
	{
		RegisteredMigration *r = lfirst(lc);
		AdoptedAttempt a = {0};
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (r->latest.exists && r->latest.state == MIGRATION_APPLIED)
			continue;
		catalog_check_owner(r->def.version, r->def.owner, caller, "baseline");
		a.state = MIGRATION_APPLIED;
		a.duration_ms = -1;
		a.note = psprintf("baselined by %s: marked applied up to %s without running it%s", who,
						  version, r->latest.exists ? " (it was rolled back)" : "");
		catalog_history_mark(&r->def, HISTORY_BASELINE, &a, caller);
		values[0] = CStringGetTextDatum(r->def.version);
		values[1] = CStringGetTextDatum(r->def.name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	return (Datum) 0;
}

/* migrate_unregister(version): removes a migration that never ran. */
Datum
migrate_unregister(PG_FUNCTION_ARGS)
{
	char	   *version = text_arg(fcinfo, 0, "version");
	CatalogUser user;
	int			nestlevel;
	char	   *note;

	script_check_version(version, "version");
	(void) catalog_version_ok(ERROR);
	migrate_require_no_run("unregister a migration", "unregister");
	nestlevel = NewGUCNestLevel();
	catalog_become_owner(&user);
	note = catalog_unregister(version, user.userid);
	catalog_restore_user(&user);
	AtEOXact_GUC(false, nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(note));
}
