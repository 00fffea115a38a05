/*-------------------------------------------------------------------------
 *
 * pg_migrate.c
 *	  The command-line client of the migrate extension: applies a team's
 *	  existing migrations folder (in its own tool's format) through the
 *	  server's functions, and trusts its exit code in CI.
 *
 * The server does everything it already knows (parsing, checksums, plans,
 * lint, status, JSON through json_agg); the client reads the files, sends
 * their exact bytes as parameters (never pasted into SQL), shows progress
 * and sets the exit code.  While a run goes on the client only polls in
 * autocommit statements (CALL migrate_wait with a short timeout, which
 * commits as it waits, and migrate_status()), so it never holds a snapshot
 * that a worker's CREATE INDEX CONCURRENTLY would have to wait for.
 *
 * src/pg_migrate/pg_migrate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/logging.h"
#include "common/sha2.h"
#include "common/string.h"
#include "fe_utils/option_utils.h"
#include "fe_utils/print.h"
#include "fe_utils/simple_list.h"
#include "getopt_long.h"
#include "libpq-fe.h"
#include "pqexpbuffer.h"

#include "pg_migrate.h"

/*
 * Exit codes (documented in --help and the README).  status --exit-code
 * adds three: failed beats drift beats pending when several hold.
 */
#define EXIT_OK			0
#define EXIT_ERROR		1		/* a migration failed, bad input, no connection */
#define EXIT_USAGE		2
#define EXIT_PENDING	3
#define EXIT_FAILED		4
#define EXIT_DRIFT		5

typedef enum Command
{
	CMD_STATUS,
	CMD_UP,
	CMD_DOWN,
	CMD_LINT,
	CMD_PLAN,
	CMD_VALIDATE,
	CMD_NEW,
	CMD_IMPORT,
	CMD_BASELINE
} Command;

typedef enum TriValue
{
	TRI_DEFAULT,
	TRI_NO,
	TRI_YES
} TriValue;

static struct
{
	SimpleStringList dbnames;
	const char *host;
	const char *port;
	const char *user;
	TriValue	prompt_password;
	SimpleStringList dirs;
	bool		dirs_given;
	MigFormat	format;
	bool		json;
	bool		exit_code;
	const char *to;
	bool		all;
	bool		quiet;
	const char *from;			/* import: the tool, or NULL for auto */
	CompatMode	compat;
} opt;

static const char *progname;
static volatile sig_atomic_t interrupted = false;

/* The conventional folders tried, in this order, when --dir is not given. */
static const char *const default_dirs[] = {
	"migrations", "db/migrations", "db/migration", "prisma/migrations", NULL
};

static void
usage(void)
{
	printf("%s applies a migrations folder through the migrate extension.\n\n", progname);
	printf("Usage:\n");
	printf("  %s [OPTION]... up [TARGET]       register the folder, apply up to TARGET, wait\n", progname);
	printf("                           (a migration that never ran and whose file is gone\n"
		   "                           is unregistered)\n");
	printf("  %s [OPTION]... down [N]          roll back the N latest migrations (default 1)\n", progname);
	printf("  %s [OPTION]... down --to VERSION | --all\n", progname);
	printf("  %s [OPTION]... status [--exit-code] [--json]\n", progname);
	printf("  %s [OPTION]... plan [TARGET] [--json]\n", progname);
	printf("  %s [OPTION]... lint [FILE]... [--json]   (default: the migrations not applied yet)\n", progname);
	printf("  %s [OPTION]... validate\n", progname);
	printf("  %s [OPTION]... new NAME\n", progname);
	printf("  %s [OPTION]... import [--from TOOL]\n"
		   "                           register the folder, then import the history of the\n"
		   "                           tool that applied it so far (nothing on any mismatch)\n", progname);
	printf("  %s [OPTION]... baseline VERSION\n"
		   "                           register the folder, mark it applied up to VERSION\n"
		   "                           without running it (the database already has it)\n", progname);
	printf("\nOptions:\n");
	printf("      --dir=DIR            migrations folder (repeatable; default: the first of\n"
		   "                           migrations/, db/migrations/, db/migration/, prisma/migrations/)\n");
	printf("      --format=FORMAT      golang-migrate (or migrate), dbmate, flyway, prisma,\n"
		   "                           goose, node-pg-migrate (default: detected)\n");
	printf("      --json               JSON output (status, plan, lint)\n");
	printf("      --compat-history     up, down: keep the folder's tool's history table (Flyway,\n"
		   "                           golang-migrate, dbmate, Prisma, goose, node-pg-migrate) as\n"
		   "                           that tool writes it, creating it if missing (default: kept\n"
		   "                           when it exists)\n");
	printf("      --no-compat-history  leave that table alone\n");
	printf("      --exit-code          status: exit %d if pending, %d if failed, %d if drift\n",
		   EXIT_PENDING, EXIT_FAILED, EXIT_DRIFT);
	printf("      --from=TOOL          import: flyway, golang-migrate, dbmate, prisma, goose,\n"
		   "                           node-pg-migrate or sqitch (default: the one whose\n"
		   "                           history table is on the search_path)\n");
	printf("  -q, --quiet              print errors only\n");
	printf("  -V, --version            output version information, then exit\n");
	printf("  -?, --help               show this help, then exit\n");
	printf("\nConnection options (as psql; DATABASE_URL is used when -d is not given):\n");
	printf("  -d, --dbname=DBNAME      database name, connection string or URI; repeat it\n"
		   "                           to run the command on several databases\n");
	printf("      --dsn-file=FILE      one connection string per line, the same way\n");
	printf("      --all-databases      every database of the server that has the extension\n");
	printf("  -j, --jobs=N             databases at once (default 1), then a summary\n");
	printf("  -h, --host=HOSTNAME      database server host or socket directory\n");
	printf("  -p, --port=PORT          database server port\n");
	printf("  -U, --username=USERNAME  database user name\n");
	printf("  -w, --no-password        never prompt for password\n");
	printf("  -W, --password           force password prompt\n");
	printf("\nExit status: 0 success; %d error (a migration failed, bad folder, no connection,\n"
		   "lint errors); %d usage; with status --exit-code %d pending, %d failed, %d drift\n"
		   "(an applied file changed, or applied but missing from the folder).\n",
		   EXIT_ERROR, EXIT_USAGE, EXIT_PENDING, EXIT_FAILED, EXIT_DRIFT);
}

static void
on_sigint(SIGNAL_ARGS)
{
	interrupted = true;
}

/* ---------------------------------------------------------------------
 * Connection and queries
 * --------------------------------------------------------------------- */

/* Prints a failed result as psql does (message, detail, hint, position). */
static void
print_server_error(const PGresult *res, PGconn *conn)
{
	char	   *msg = res ? PQresultVerboseErrorMessage(res, PQERRORS_DEFAULT, PQSHOW_CONTEXT_ERRORS) : NULL;

	if (msg && *msg)
		fprintf(stderr, "%s", msg);
	else
		fprintf(stderr, "%s", PQerrorMessage(conn));
	PQfreemem(msg);
}

/*
 * Runs one statement with text parameters; on failure prints the server's
 * error after "context" (when given) and returns NULL.
 */
static PGresult *
run(PGconn *conn, const char *context, const char *sql, int nparams,
	const char *const *values)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	if (context)
	{
		pg_log_error("%s", context);
		print_server_error(res, conn);
	}
	PQclear(res);
	return NULL;
}

/* Like run(), keeping a failed result for its SQLSTATE. */
static PGresult *
run_keep(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

static bool
result_ok(const PGresult *res)
{
	return PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;
}

static const char *
sqlstate(const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

/*
 * A Prisma DATABASE_URL carries ?schema=NAME, which libpq does not know:
 * it becomes the search_path, the rest of the URI is libpq's.
 */
static char *
database_url(const char *url, char **options)
{
	char	   *copy = pg_strdup(url);
	char	   *q = strchr(copy, '?');
	PQExpBufferData rest;
	char	   *tok;
	char	   *save;

	*options = NULL;
	if (q == NULL)
		return copy;
	*q++ = '\0';
	initPQExpBuffer(&rest);
	appendPQExpBufferStr(&rest, copy);
	for (tok = strtok_r(q, "&", &save); tok; tok = strtok_r(NULL, "&", &save))
	{
		if (strncmp(tok, "schema=", 7) == 0)
			*options = psprintf("-c search_path=%s", tok + 7);
		else
			appendPQExpBuffer(&rest, "%c%s", strchr(rest.data, '?') ? '&' : '?', tok);
	}
	return rest.data;
}

/*
 * Connects as psql does: -d (conninfo or URI), -h -p -U, PG* variables;
 * override_dbname, when given, replaces the database of all that.
 */
static PGconn *
connect_db(const char *dbname, const char *override_dbname)
{
	const char *keywords[10];
	const char *values[10];
	char	   *password = NULL;
	char	   *options = NULL;
	PGconn	   *conn;
	bool		again;

	if (dbname == NULL && getenv("DATABASE_URL") && *getenv("DATABASE_URL"))
		dbname = database_url(getenv("DATABASE_URL"), &options);
	if (opt.prompt_password == TRI_YES)
		password = simple_prompt("Password: ", false);
	do
	{
		int			i = 0;

		keywords[i] = "host", values[i++] = opt.host;
		keywords[i] = "port", values[i++] = opt.port;
		keywords[i] = "user", values[i++] = opt.user;
		keywords[i] = "password", values[i++] = password;
		keywords[i] = "dbname", values[i++] = dbname;
		/* --all-databases: the same server, another database */
		keywords[i] = "dbname", values[i++] = override_dbname;
		keywords[i] = "fallback_application_name", values[i++] = progname;
		/* files are read as UTF-8 and sent as such, whatever the database's encoding */
		keywords[i] = "client_encoding", values[i++] = "UTF8";
		keywords[i] = "options", values[i++] = options;
		keywords[i] = NULL, values[i++] = NULL;
		again = false;
		conn = PQconnectdbParams(keywords, values, true);
		if (PQstatus(conn) == CONNECTION_BAD && PQconnectionNeedsPassword(conn) &&
			password == NULL && opt.prompt_password != TRI_NO)
		{
			PQfinish(conn);
			password = simple_prompt("Password: ", false);
			again = true;
		}
	} while (again);

	if (PQstatus(conn) == CONNECTION_BAD)
	{
		pg_log_error("%s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * The extension must be installed in this database (the library itself
 * refuses to load unless preloaded, with its own hint).
 */
static bool
check_extension(PGconn *conn)
{
	PGresult   *res = run(conn, "could not check for the migrate extension",
						  "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'migrate'",
						  0, NULL);

	if (res == NULL)
		return false;
	if (PQntuples(res) == 0)
	{
		pg_log_error("the migrate extension is not installed in database \"%s\"", PQdb(conn));
		pg_log_error_hint("As a superuser: add shared_preload_libraries = 'migrate' to postgresql.conf, restart the server, then run CREATE EXTENSION migrate; in this database (and SELECT migrate_grant('role') for a deploying role).");
		PQclear(res);
		return false;
	}
	PQclear(res);
	return true;
}

/* ---------------------------------------------------------------------
 * The folder
 * --------------------------------------------------------------------- */

/* The conventional folders, or the --dir ones; false if none exists. */
static bool
resolve_dirs(bool required)
{
	struct stat st;

	if (opt.dirs_given)
		return true;
	for (int i = 0; default_dirs[i]; i++)
		if (stat(default_dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
		{
			simple_string_list_append(&opt.dirs, default_dirs[i]);
			return true;
		}
	if (required)
	{
		pg_log_error("no migrations folder here (looked for migrations/, db/migrations/, db/migration/, prisma/migrations/)");
		pg_log_error_hint("Name it with --dir.");
	}
	return false;
}

/* The sha256 of data as hex: migrate's checksum of a script, Prisma's of a file. */
char *
sha256_hex(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = pg_malloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		pg_fatal("could not compute a sha256 checksum: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return hex;
}

/* Appends one element to a text[] literal being built (for unnest). */
void
array_add(PQExpBuffer buf, const char *value)
{
	appendPQExpBufferChar(buf, buf->len == 0 ? '{' : ',');
	if (value == NULL)
	{
		appendPQExpBufferStr(buf, "NULL");
		return;
	}
	appendPQExpBufferChar(buf, '"');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendPQExpBufferChar(buf, '\\');
		appendPQExpBufferChar(buf, *p);
	}
	appendPQExpBufferChar(buf, '"');
}

void
array_end(PQExpBuffer buf)
{
	if (buf->len == 0)
		appendPQExpBufferChar(buf, '{');
	appendPQExpBufferChar(buf, '}');
}

/*
 * The folder as five text[] parameters: versions (a repeatable migration's
 * name), names, checksums, paths, and whether each is repeatable.
 */
static void
folder_arrays(const Folder *f, PQExpBuffer arrays)
{
	for (int a = 0; a < 5; a++)
		initPQExpBuffer(&arrays[a]);
	for (int i = 0; f && i < f->n + f->nrep; i++)
	{
		const Migration *m = i < f->n ? &f->items[i] : &f->repeatables[i - f->n];

		array_add(&arrays[0], m->version);
		array_add(&arrays[1], m->name);
		array_add(&arrays[2], m->blocker ? NULL : sha256_hex(m->up.sql, m->up.len));
		array_add(&arrays[3], m->blocker ? m->blocker : m->up.path);
		array_add(&arrays[4], i < f->n ? "f" : "t");
	}
	for (int a = 0; a < 5; a++)
		array_end(&arrays[a]);
}

/* A versioned migration by version, or a repeatable one by name. */
static const Migration *
folder_lookup(const Folder *f, const char *version)
{
	for (int i = 0; f && i < f->nrep; i++)
		if (strcmp(f->repeatables[i].name, version) == 0)
			return &f->repeatables[i];
	for (int i = 0; f && i < f->n; i++)
		if (version_cmp(f->items[i].version, version) == 0)
			return &f->items[i];
	return NULL;
}

/* A repeatable migration's name is its version: say what it is instead. */
static char *
shown_name(const Folder *f, const char *version, const char *name)
{
	const Migration *m = folder_lookup(f, version);

	if (m && f->nrep > 0 && m >= f->repeatables && m < f->repeatables + f->nrep)
		return "(repeatable)";
	return pg_strdup(name);
}

/* counts[3]: registered, updated, unchanged, from migrate_register's answer */
static void
count_outcome(int *counts, const char *outcome)
{
	if (strcmp(outcome, "registered") == 0)
		counts[0]++;
	else if (strcmp(outcome, "updated") == 0)
		counts[1]++;
	else
		counts[2]++;
}

/*
 * Registers every migration of the folder in one transaction, each
 * script's exact bytes as a parameter.  On any refusal (an applied file
 * changed, a syntax error, a script too large) nothing is registered.
 */
static bool
register_folder(PGconn *conn, const Folder *f, bool keep_open)
{
	PGresult   *res;
	int			counts[3] = {0, 0, 0};

	if ((res = run(conn, "could not start the registration", "BEGIN", 0, NULL)) == NULL)
		return false;
	PQclear(res);
	for (int i = 0; i < f->n; i++)
	{
		const Migration *m = &f->items[i];
		const char *values[6];

		if (m->blocker)
			continue;
		values[0] = m->version;
		values[1] = m->name;
		values[2] = m->up.sql;
		values[3] = m->down.sql;
		values[4] = m->nontransactional ? "false" : "true";
		values[5] = m->source;
		res = run_keep(conn, "SELECT pg_catalog.migrate_register($1, $2, $3, $4, $5, $6)", 6, values);
		if (!result_ok(res))
		{
			pg_log_error("could not register \"%s\" (version %s)", m->up.path, m->version);
			print_server_error(res, conn);
			if (strstr(PQresultErrorMessage(res), "has been applied"))
				pg_log_error_hint("The file changed after it was applied: restore it, or put the change in a new migration.");
			PQclear(res);
			PQclear(PQexec(conn, "ROLLBACK"));
			fprintf(stderr, "%s: nothing was registered\n", progname);
			return false;
		}
		count_outcome(counts, PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	/* a repeatable migration may change at any time: it then runs again */
	for (int i = 0; i < f->nrep; i++)
	{
		const Migration *m = &f->repeatables[i];
		const char *values[4];

		values[0] = m->name;
		values[1] = m->up.sql;
		values[2] = m->nontransactional ? "false" : "true";
		values[3] = m->source;
		res = run_keep(conn, "SELECT pg_catalog.migrate_register_repeatable($1, $2, $3, $4)", 4, values);
		if (!result_ok(res))
		{
			pg_log_error("could not register \"%s\" (repeatable migration %s)", m->up.path, m->name);
			print_server_error(res, conn);
			PQclear(res);
			PQclear(PQexec(conn, "ROLLBACK"));
			fprintf(stderr, "%s: nothing was registered\n", progname);
			return false;
		}
		count_outcome(counts, PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (keep_open)
		return true;
	if ((res = run(conn, "could not commit the registration", "COMMIT", 0, NULL)) == NULL)
		return false;
	PQclear(res);
	if (!opt.quiet)
		printf("%s: %d migrations%s in %s (%s): %d new, %d updated, %d unchanged%s%s\n",
			   progname, f->n,
			   f->nrep > 0 ? psprintf(" and %d repeatable", f->nrep) : "",
			   f->where, format_name(f->format), counts[0], counts[1], counts[2],
			   f->note ? "; note: " : "", f->note ? f->note : "");
	return true;
}

/* ---------------------------------------------------------------------
 * Waiting for a run
 * --------------------------------------------------------------------- */

/* The backfill progress line, while it is shown in place on a terminal. */
static bool progress_in_place = false;

static void
clear_progress(void)
{
	if (progress_in_place)
	{
		fputs("\r\033[K", stdout);
		progress_in_place = false;
	}
}

/*
 * Progress of the backfills the running migrations started: percent,
 * rows/s, ETA and why a job holds; in place on a terminal, else a plain
 * line every few seconds (CI logs).
 */
static void
show_backfills(PGconn *conn, const char *versions, time_t *last)
{
	const char *values[1] = {versions};
	bool		tty = isatty(fileno(stdout));
	time_t		now = time(NULL);
	PGresult   *res;

	if (opt.quiet || (!tty && now - *last < 5))
		return;
	res = run_keep(conn,
				   "SELECT pg_catalog.string_agg(pg_catalog.format('backfill %s (%s.%s): %s%%, %s rows, %s rows/s, ETA %s%s', "
				   "    id, relation, column_name, percent, rows_done, coalesce(rows_per_second::text, '-'), "
				   "    coalesce(pg_catalog.date_trunc('second', eta)::text, '-'), "
				   "    coalesce(', holding: ' || held_reason, '')), '; ' ORDER BY id) "
				   "FROM pg_catalog.migrate_backfill_status() "
				   "WHERE migration = ANY ($1::text[]) AND state IN ('queued', 'running')", 1, values);
	if (result_ok(res) && !PQgetisnull(res, 0, 0))
	{
		*last = now;
		if (tty)
		{
			printf("\r%s\033[K", PQgetvalue(res, 0, 0));
			progress_in_place = true;
		}
		else
			printf("%s\n", PQgetvalue(res, 0, 0));
		fflush(stdout);
	}
	PQclear(res);
}

typedef struct Tracked
{
	char	   *version;
	char	   *name;
	char		shown;			/* ' ' nothing yet, 's' start line, 'e' end line */
	bool		lock_wait_shown;	/* the line saying it waits for its lock */
} Tracked;

/*
 * Prints the error of a failed migration as psql would: SQLSTATE, message,
 * detail, hint, and the file and line of the statement, from
 * migrate_history(), which shows the detail and hint to the role that ran
 * the migration (and its owner); without it, what migrate_status() shows.
 */
static void
print_failure(PGconn *conn, const Folder *f, const char *version, bool rollback,
			  const char *status_error)
{
	const char *values[1] = {version};
	PGresult   *res = run_keep(conn,
							   "SELECT error_code, error_message, error_detail, error_hint, "
							   "       error_statement, error_position, error_sql "
							   "FROM pg_catalog.migrate_history($1) WHERE error_message IS NOT NULL "
							   "ORDER BY id DESC LIMIT 1", 1, values);
	const Migration *m = folder_lookup(f, version);
	const Section *s = m ? (rollback ? &m->down : &m->up) : NULL;

	if (result_ok(res) && PQntuples(res) == 1)
	{
		int			pos = PQgetisnull(res, 0, 5) ? 0 : atoi(PQgetvalue(res, 0, 5));
		const char *stmt = PQgetisnull(res, 0, 6) ? NULL : strstr(s && s->sql ? s->sql : "", PQgetvalue(res, 0, 6));
		int			line = s ? s->line : 0;

		/* the line of the position, else of the failing statement's text */
		if (s && s->sql && pos > 0)
			line = section_line_of(s, pos);
		else if (s && s->sql && stmt)
			for (const char *c = s->sql; c < stmt; c++)
				line += *c == '\n';
		if (s && s->sql)
			fprintf(stderr, "%s:%d: ", s->path, line);
		fprintf(stderr, "ERROR:  %s: %s\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		if (!PQgetisnull(res, 0, 2))
			fprintf(stderr, "DETAIL:  %s\n", PQgetvalue(res, 0, 2));
		if (!PQgetisnull(res, 0, 3))
			fprintf(stderr, "HINT:  %s\n", PQgetvalue(res, 0, 3));
		if (!PQgetisnull(res, 0, 4))
			fprintf(stderr, "CONTEXT:  statement %s of migration %s%s\n", PQgetvalue(res, 0, 4), version,
					rollback ? " (down script)" : "");
	}
	else
	{
		if (s && s->sql)
			fprintf(stderr, "%s: ", s->path);
		fprintf(stderr, "ERROR:  %s\n", status_error ? status_error : "see migrate_status()");
	}
	PQclear(res);
}

/*
 * Follows the run just queued until it ends: one line per migration as it
 * starts and ends.  Returns the exit code.
 */
static int
follow_run(PGconn *conn, const Folder *f, PGresult *queued, bool rollback)
{
	int			n = PQntuples(queued);
	Tracked    *t = pg_malloc0(sizeof(Tracked) * (n + 1));
	PQExpBufferData versions;
	bool		over = false;
	int			rc = EXIT_OK;
	const char *done_state = rollback ? "rolled_back" : "applied";
	time_t		last_progress = 0;

	initPQExpBuffer(&versions);
	for (int i = 0; i < n; i++)
	{
		t[i].version = pg_strdup(PQgetvalue(queued, i, 0));
		t[i].name = shown_name(f, t[i].version, PQgetvalue(queued, i, 1));
		t[i].shown = ' ';
		array_add(&versions, t[i].version);
	}
	array_end(&versions);

	while (!over)
	{
		PGresult   *res;
		const char *values[1] = {versions.data};
		bool		running = false;

		if (interrupted)
		{
			pg_log_error("stopped waiting: the run goes on in the server's worker");
			pg_log_error_hint("Follow it with \"%s status\" (or SELECT * FROM migrate_status()).", progname);
			return EXIT_ERROR;
		}
		/* commits while it waits: no snapshot held */
		res = run_keep(conn, "CALL pg_catalog.migrate_wait(interval '500 ms')", 0, NULL);
		if (result_ok(res) || strcmp(sqlstate(res), "55000") == 0)
			over = true;
		else if (strcmp(sqlstate(res), "57014") != 0)
		{
			if (PQstatus(conn) == CONNECTION_BAD)
			{
				pg_log_error("lost the connection to the server: the run goes on in the server's worker");
				pg_log_error_hint("Follow it with \"%s status\" once the server is reachable.", progname);
			}
			else
			{
				pg_log_error("could not wait for the run");
				print_server_error(res, conn);
			}
			PQclear(res);
			return EXIT_ERROR;
		}
		PQclear(res);

		res = run(conn, "could not read migrate_status()",
				  "SELECT version, state, duration_ms, error, retries, steps, lock_wait, lock_schedule "
				  "FROM pg_catalog.migrate_status() WHERE version = ANY ($1::text[])",
				  1, values);
		if (res == NULL)
			return EXIT_ERROR;
		/* in the run's order: newest first for a rollback */
		for (int i = 0; i < n; i++)
		{
			Tracked    *x = &t[i];
			const char *state;
			bool		ended;
			int			r;

			for (r = 0; r < PQntuples(res); r++)
				if (strcmp(PQgetvalue(res, r, 0), x->version) == 0)
					break;
			if (r == PQntuples(res) || x->shown == 'e')
				continue;
			state = PQgetvalue(res, r, 1);
			ended = strcmp(state, done_state) == 0 || strcmp(state, "failed") == 0;
			running |= strcmp(state, "running") == 0;
			if ((x->shown == ' ' && (strcmp(state, "running") == 0 || (over && ended))) ||
				(ended && x->shown == 's'))
				clear_progress();
			/* a failed migration left from before is only ours once it ran */
			if (strcmp(state, "running") == 0 || (over && ended))
			{
				if (x->shown == ' ' && !opt.quiet)
					printf("%s %s: %s\n", x->version, x->name, rollback ? "rolling back" : "running");
				x->shown = 's';
			}
			/* once: a deploy that seems stuck says why, and how long it may wait */
			if (strcmp(state, "running") == 0 && !PQgetisnull(res, r, 6) && !x->lock_wait_shown)
			{
				x->lock_wait_shown = true;
				if (!opt.quiet)
				{
					clear_progress();
					printf("%s %s: waiting for its lock behind other sessions, retrying (%s)\n",
						   x->version, x->name,
						   PQgetisnull(res, r, 7) ? "" : PQgetvalue(res, r, 7));
				}
			}
			if (ended && x->shown == 's')
			{
				x->shown = 'e';
				/* the old tool's table follows each migration */
				if (f && !compat_sync(conn, f))
					rc = EXIT_ERROR;
				if (strcmp(state, "failed") == 0)
				{
					printf("%s %s: failed\n", x->version, x->name);
					fflush(stdout);
					print_failure(conn, f, x->version, rollback,
								  PQgetisnull(res, r, 3) ? NULL : PQgetvalue(res, r, 3));
					rc = EXIT_ERROR;
				}
				else if (!opt.quiet)
				{
					int			retries = atoi(PQgetvalue(res, r, 4));

					printf("%s %s: %s in %.0f ms (steps %s%s%s)\n", x->version, x->name,
						   rollback ? "rolled back" : "applied",
						   PQgetisnull(res, r, 2) ? 0.0 : strtod(PQgetvalue(res, r, 2), NULL),
						   PQgetvalue(res, r, 5),
						   retries > 0 ? psprintf(", %d lock timeout retries", retries) : "",
						   "");
				}
			}
			fflush(stdout);
		}
		PQclear(res);
		if (running && !over)
			show_backfills(conn, versions.data, &last_progress);
	}
	clear_progress();
	for (int i = 0; i < n; i++)
		if (t[i].shown != 'e')
		{
			if (!opt.quiet || rc == EXIT_OK)
				printf("%s %s: not run\n", t[i].version, t[i].name);
			if (rc == EXIT_OK)
			{
				pg_log_error("migration %s did not run", t[i].version);
				rc = EXIT_ERROR;
			}
		}
	return rc;
}

/*
 * Queues a run (apply or rollback, wait => false) and follows it.  A run
 * already in progress is waited for first, outside any transaction.
 */
static int
start_and_follow(PGconn *conn, const Folder *f, const char *sql, int nparams,
				 const char *const *values, bool rollback)
{
	PGresult   *res;
	bool		said = false;

	/* fail at once when busy: the waiting is done below, holding no snapshot */
	PQclear(PQexec(conn, "SET migrate.run_wait_timeout = 0"));
	for (;;)
	{
		res = run_keep(conn, sql, nparams, values);
		if (result_ok(res))
			break;
		if (strcmp(sqlstate(res), "55006") != 0)
		{
			pg_log_error("could not start the %s", rollback ? "rollback" : "run");
			print_server_error(res, conn);
			PQclear(res);
			return EXIT_ERROR;
		}
		if (!said && !opt.quiet)
		{
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			printf("%s: another migration run is in progress%s%s; waiting for it\n",
				   progname, detail ? ": " : "", detail ? detail : "");
			fflush(stdout);
		}
		said = true;
		PQclear(res);
		for (;;)
		{
			if (interrupted)
			{
				pg_log_error("stopped waiting for the other run");
				return EXIT_ERROR;
			}
			res = run_keep(conn, "CALL pg_catalog.migrate_wait(interval '1 s')", 0, NULL);
			if (strcmp(sqlstate(res), "57014") != 0)
				break;
			PQclear(res);
		}
		if (!result_ok(res) && strcmp(sqlstate(res), "55000") != 0)
		{
			pg_log_error("could not wait for the other run");
			print_server_error(res, conn);
			PQclear(res);
			return EXIT_ERROR;
		}
		PQclear(res);
	}
	if (PQntuples(res) == 0)
	{
		if (!opt.quiet)
			printf("%s: nothing to %s\n", progname, rollback ? "roll back" : "apply: the database is up to date");
		PQclear(res);
		return EXIT_OK;
	}
	return follow_run(conn, f, res, rollback);
}

/* ---------------------------------------------------------------------
 * Commands
 * --------------------------------------------------------------------- */

/*
 * The folder and the database side by side (ordered by version, the
 * repeatable migrations last by name).  A repeatable migration whose file
 * changed is not drift: it is outdated, and up runs it again.
 */
static const char status_sql[] =
"WITH f AS ("
"  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::bool[]) "
"    AS f(version, name, checksum, file, repeatable)"
"), s AS (SELECT * FROM pg_catalog.migrate_status()) "
"SELECT coalesce(s.version, f.version) AS version, coalesce(s.name, f.name) AS name, "
"  CASE WHEN s.version IS NULL THEN 'pending' "
"       WHEN s.repeatable AND s.state = 'applied' AND f.version IS NOT NULL "
"            AND f.checksum IS DISTINCT FROM s.checksum THEN 'outdated' "
"       ELSE s.state END AS state, "
"  CASE WHEN s.version IS NULL THEN 'not registered' "
"       WHEN f.version IS NULL AND $5 AND s.state IN ('applied', 'outdated', 'running', 'failed') THEN 'missing from the folder' "
"       WHEN s.state IN ('applied', 'running', 'failed') AND f.checksum IS DISTINCT FROM s.checksum AND f.version IS NOT NULL "
"            AND NOT s.repeatable "
"         THEN 'changed since applied' END AS drift, "
"  s.applied_at, s.applied_by, s.duration_ms, s.steps, s.retries, s.error, f.file, "
"  coalesce(s.repeatable, f.repeatable, false) AS repeatable "
"FROM s FULL JOIN f ON f.version = s.version "
"ORDER BY coalesce(s.repeatable, f.repeatable, false), "
"  CASE WHEN NOT coalesce(s.repeatable, f.repeatable, false) "
"       THEN string_to_array(coalesce(s.version, f.version), '.')::numeric[] END, 1";

static int
cmd_status(PGconn *conn, const Folder *f)
{
	PQExpBufferData arrays[5];
	const char *values[6];
	PGresult   *res;
	int			rc = EXIT_OK;

	folder_arrays(f, arrays);
	for (int a = 0; a < 4; a++)
		values[a] = arrays[a].data;
	values[4] = f ? "true" : "false";
	values[5] = arrays[4].data;

	if (opt.json)
	{
		PQExpBufferData q;

		initPQExpBuffer(&q);
		appendPQExpBuffer(&q, "SELECT coalesce(json_agg(x), '[]') FROM (%s) x", status_sql);
		res = run(conn, "could not read the status", q.data, 6, values);
		if (res == NULL)
			return EXIT_ERROR;
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	res = run(conn, "could not read the status", status_sql, 6, values);
	if (res == NULL)
		return EXIT_ERROR;
	if (!opt.json)
	{
		printQueryOpt popt = {0};

		popt.topt.format = PRINT_ALIGNED;
		popt.topt.border = 1;
		popt.topt.start_table = true;
		popt.topt.stop_table = true;
		popt.topt.default_footer = false;
		popt.topt.encoding = PQclientEncoding(conn);
		popt.nullPrint = "";
		printQuery(res, &popt, stdout, false, NULL);
	}
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *state = PQgetvalue(res, r, 2);
		int			this = EXIT_OK;

		if (strcmp(state, "failed") == 0)
			this = EXIT_FAILED;
		else if (!PQgetisnull(res, r, 3) && strcmp(PQgetvalue(res, r, 3), "not registered") != 0)
			this = EXIT_DRIFT;
		else if (strcmp(state, "pending") == 0 || strcmp(state, "running") == 0 ||
				 strcmp(state, "rolled_back") == 0 || strcmp(state, "outdated") == 0)
			this = EXIT_PENDING;
		/* failed > drift > pending */
		if (this == EXIT_FAILED || (this == EXIT_DRIFT && rc != EXIT_FAILED) ||
			(this == EXIT_PENDING && rc == EXIT_OK))
			rc = this;
	}
	PQclear(res);
	return opt.exit_code ? rc : EXIT_OK;
}

/* The highest version below the first one the client cannot run. */
static const char *
blocked_target(const Folder *f, const char *target, const Migration **blocker)
{
	*blocker = NULL;
	for (int i = 0; i < f->n; i++)
		if (f->items[i].blocker)
		{
			if (target && version_cmp(target, f->items[i].version) < 0)
				return target;
			*blocker = &f->items[i];
			return i > 0 ? f->items[i - 1].version : NULL;
		}
	return target;
}

/*
 * A registered migration that never ran and whose file is gone from the
 * folder was a mistake, or was renamed: up unregisters it rather than run
 * a script nobody has any more, and says so.
 */
static bool
unregister_gone(PGconn *conn, const Folder *f)
{
	PQExpBufferData arrays[5];
	const char *values[1];
	PGresult   *res;
	bool		ok = true;

	folder_arrays(f, arrays);
	values[0] = arrays[0].data;
	res = run(conn, "could not read migrate_status()",
			  "SELECT version, name FROM pg_catalog.migrate_status() "
			  "WHERE state = 'pending' AND NOT repeatable AND version <> ALL ($1::text[]) "
			  "ORDER BY string_to_array(version, '.')::numeric[]", 1, values);
	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *v[1] = {PQgetvalue(res, r, 0)};
		PGresult   *u = run_keep(conn, "SELECT pg_catalog.migrate_unregister($1)", 1, v);

		if (result_ok(u))
			printf("%s: note: %s %s is registered but not in %s and never ran: unregistered\n",
				   progname, v[0], PQgetvalue(res, r, 1), f->where);
		else
		{
			pg_log_error("migration %s (%s) is not in %s and never ran, but could not be unregistered",
						 v[0], PQgetvalue(res, r, 1), f->where);
			print_server_error(u, conn);
			ok = false;
		}
		PQclear(u);
	}
	PQclear(res);
	return ok;
}

static int
cmd_up(PGconn *conn, const Folder *f, const char *target)
{
	const Migration *blocker;
	const char *values[1];
	int			rc;

	/* the tool's table exists before anything runs: migrations may touch it */
	if (!compat_prepare(conn, f, opt.compat) || !register_folder(conn, f, false) ||
		!unregister_gone(conn, f))
		return EXIT_ERROR;
	if (compat_table(f) && !opt.quiet)
		printf("%s: keeping %s as %s writes it (--no-compat-history to stop)\n",
			   progname, compat_table(f), format_name(f->format));
	values[0] = blocked_target(f, target, &blocker);
	if (blocker && values[0] == NULL)
		rc = EXIT_OK;
	else
		rc = start_and_follow(conn, f, "SELECT version, name FROM pg_catalog.migrate_apply($1, wait => false)",
							  1, values, false);
	/* also what an earlier run applied without it, or without us watching */
	if (!compat_sync(conn, f))
		rc = EXIT_ERROR;
	if (blocker)
	{
		pg_log_error("version %s is \"%s\", which pg_migrate cannot run; nothing past it was applied",
					 blocker->version, blocker->blocker);
		pg_log_error_hint("Rewrite it as SQL, or apply with a target below it (pg_migrate up VERSION).");
		return EXIT_ERROR;
	}
	return rc;
}

/*
 * Registers the folder, then imports the history of the tool that applied
 * it so far.  The server checks the tool's checksum of each file (Flyway,
 * Prisma, sqitch keep one): it gets the whole file where the registered
 * script is only a part of it (a BEGIN/COMMIT cut).
 */
static int
cmd_import(PGconn *conn, const Folder *f)
{
	PQExpBufferData versions;
	PQExpBufferData texts;
	const char *values[3];
	PGresult   *res;

	if (!register_folder(conn, f, false))
		return EXIT_ERROR;
	initPQExpBuffer(&versions);
	initPQExpBuffer(&texts);
	for (int i = 0; i < f->n; i++)
	{
		const Migration *m = &f->items[i];
		char	   *buf;
		size_t		len;

		if (m->blocker || m->up.path == NULL)
			continue;
		if (!folder_read_file(m->up.path, &buf, &len))
			return EXIT_ERROR;
		if (len != m->up.len || memcmp(buf, m->up.sql, len) != 0)
		{
			array_add(&versions, m->version);
			array_add(&texts, buf);
		}
		pg_free(buf);
	}
	array_end(&versions);
	array_end(&texts);
	values[0] = opt.from ? opt.from : "auto";
	values[1] = versions.data;
	values[2] = texts.data;
	res = run(conn, "could not import the history",
			  "SELECT version, name, state, applied_at, applied_by, imported_from "
			  "FROM pg_catalog.migrate_import_history($1, "
			  "  (SELECT pg_catalog.jsonb_object_agg(u.v, u.t) "
			  "   FROM unnest($2::text[], $3::text[]) AS u(v, t))) "
			  "ORDER BY string_to_array(version, '.')::numeric[]", 3, values);
	if (res == NULL)
	{
		fprintf(stderr, "%s: nothing was imported\n", progname);
		return EXIT_ERROR;
	}
	for (int r = 0; r < PQntuples(res) && !opt.quiet; r++)
		printf("%s %s: %s%s%s%s%s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
			   PQgetvalue(res, r, 2),
			   PQgetisnull(res, r, 3) ? "" : " at ", PQgetvalue(res, r, 3),
			   PQgetisnull(res, r, 4) ? "" : " by ", PQgetvalue(res, r, 4));
	if (!opt.quiet)
		printf("%s: imported %d migrations%s%s\n", progname, PQntuples(res),
			   PQntuples(res) > 0 ? " from " : "",
			   PQntuples(res) > 0 ? PQgetvalue(res, 0, 5) : "");
	PQclear(res);
	return EXIT_OK;
}

/* Registers the folder, then marks it applied up to version without running it. */
static int
cmd_baseline(PGconn *conn, const Folder *f, const char *version)
{
	const char *values[1] = {version};
	PGresult   *res;

	if (!register_folder(conn, f, false))
		return EXIT_ERROR;
	res = run(conn, "could not baseline",
			  "SELECT version, name FROM pg_catalog.migrate_baseline($1)", 1, values);
	if (res == NULL)
		return EXIT_ERROR;
	for (int r = 0; r < PQntuples(res) && !opt.quiet; r++)
		printf("%s %s: baselined (marked applied, not run)\n", PQgetvalue(res, r, 0),
			   PQgetvalue(res, r, 1));
	if (!opt.quiet)
		printf("%s: %d migrations up to %s marked applied\n", progname, PQntuples(res), version);
	PQclear(res);
	return EXIT_OK;
}

static int
cmd_down(PGconn *conn, const Folder *f, const char *steps)
{
	const char *values[1];
	int			rc;

	if (f && (!compat_prepare(conn, f, opt.compat) || !register_folder(conn, f, false)))
		return EXIT_ERROR;
	if (opt.to)
	{
		values[0] = opt.to;
		rc = start_and_follow(conn, f, "SELECT version, name FROM pg_catalog.migrate_rollback_to($1, wait => false)",
							  1, values, true);
	}
	else
	{
		if (opt.all)
		{
			/* repeatable migrations are never rolled back */
			PGresult   *res = run(conn, "could not read migrate_status()",
								  "SELECT count(*) FROM pg_catalog.migrate_status() WHERE state = 'applied' AND NOT repeatable",
								  0, NULL);

			if (res == NULL)
				return EXIT_ERROR;
			values[0] = pg_strdup(PQgetvalue(res, 0, 0));
			PQclear(res);
			if (strcmp(values[0], "0") == 0)
			{
				if (!opt.quiet)
					printf("%s: nothing to roll back\n", progname);
				return EXIT_OK;
			}
		}
		else
			values[0] = steps ? steps : "1";
		rc = start_and_follow(conn, f, "SELECT version, name FROM pg_catalog.migrate_rollback($1::int, wait => false)",
							  1, values, true);
	}
	if (f && !compat_sync(conn, f))
		rc = EXIT_ERROR;
	return rc;
}

/* Lints one script as apply would run it; adds its error findings to *errors. */
static bool
lint_one(PGconn *conn, const char *path, const char *version, const char *sql, int line0,
		 int *errors, PQExpBuffer json)
{
	char		line0s[16];
	const char *values[4];
	PGresult   *res;

	snprintf(line0s, sizeof(line0s), "%d", line0);
	values[0] = sql;
	values[1] = path;
	values[2] = version;
	values[3] = line0s;
	if (opt.json)
		res = run_keep(conn,
					   "SELECT coalesce(jsonb_agg(jsonb_build_object('file', $2::text, 'version', $3::text, "
					   "  'file_line', $4::int + l.line - 1) || to_jsonb(l) ORDER BY l.statement), '[]')::text, "
					   "  count(*) FILTER (WHERE l.severity = 'error') "
					   "FROM pg_catalog.migrate_lint($1) l", 4, values);
	else
		res = run_keep(conn,
					   "SELECT $2::text || ':' || ($4::int + l.line - 1) || ': ' || l.severity || ' ' || l.rule "
					   "  || coalesce(' (' || l.relation || ', ' || l.lock_mode || ')', '') || ': ' || l.message "
					   "  || coalesce(E'\\n  hint: ' || l.hint, ''), l.severity = 'error', $3::text "
					   "FROM pg_catalog.migrate_lint($1) l ORDER BY l.statement", 4, values);
	if (!result_ok(res))
	{
		fprintf(stderr, "%s: ", path);
		print_server_error(res, conn);
		PQclear(res);
		(*errors)++;
		return false;
	}
	if (opt.json)
	{
		const char *arr = PQgetvalue(res, 0, 0);

		if (strcmp(arr, "[]") != 0)
		{
			if (json->len > 0)
				appendPQExpBufferStr(json, ", ");
			appendBinaryPQExpBuffer(json, arr + 1, strlen(arr) - 2);
		}
		*errors += atoi(PQgetvalue(res, 0, 1));
	}
	else
		for (int r = 0; r < PQntuples(res); r++)
		{
			printf("%s\n", PQgetvalue(res, r, 0));
			if (strcmp(PQgetvalue(res, r, 1), "t") == 0)
				(*errors)++;
		}
	PQclear(res);
	return true;
}

static int
cmd_lint(PGconn *conn, const Folder *f, int nfiles, char **files)
{
	int			errors = 0;
	PQExpBufferData json;
	PGresult   *res;

	/* lint as apply runs a migration: with migrate.lock_timeout set */
	res = run(conn, "could not set the lock timeout",
			  "SELECT pg_catalog.set_config('lock_timeout', pg_catalog.current_setting('migrate.lock_timeout'), false)",
			  0, NULL);
	if (res == NULL)
		return EXIT_ERROR;
	PQclear(res);
	initPQExpBuffer(&json);
	if (nfiles == 0)
	{
		/* what up would run: the folder's migrations not applied yet */
		res = run(conn, "could not read migrate_status()",
				  "SELECT version, checksum, repeatable FROM pg_catalog.migrate_status() WHERE state = 'applied'",
				  0, NULL);
		if (res == NULL)
			return EXIT_ERROR;
		for (int i = 0; i < f->n; i++)
		{
			bool		applied = false;

			for (int r = 0; r < PQntuples(res) && !applied; r++)
				applied = strcmp(PQgetvalue(res, r, 2), "f") == 0 &&
					version_cmp(PQgetvalue(res, r, 0), f->items[i].version) == 0;
			if (f->items[i].blocker == NULL && !applied)
				lint_one(conn, f->items[i].up.path, f->items[i].version, f->items[i].up.sql,
						 f->items[i].up.line, &errors, &json);
		}
		/* a repeatable one runs again unless applied as the file is now */
		for (int i = 0; i < f->nrep; i++)
		{
			const Migration *m = &f->repeatables[i];
			bool		applied = false;

			for (int r = 0; r < PQntuples(res) && !applied; r++)
				applied = strcmp(PQgetvalue(res, r, 0), m->name) == 0 &&
					strcmp(PQgetvalue(res, r, 1), sha256_hex(m->up.sql, m->up.len)) == 0;
			if (!applied)
				lint_one(conn, m->up.path, m->name, m->up.sql, m->up.line, &errors, &json);
		}
		PQclear(res);
	}
	else
		for (int k = 0; k < nfiles; k++)
		{
			const Migration *m = NULL;

			for (int i = 0; f && i < f->n && m == NULL; i++)
				if (f->items[i].up.path && strcmp(f->items[i].up.path, files[k]) == 0)
					m = &f->items[i];
			if (m)
				lint_one(conn, m->up.path, m->version, m->up.sql, m->up.line, &errors, &json);
			else
			{
				FILE	   *fp = fopen(files[k], "rb");
				PQExpBufferData b;
				char		chunk[8192];
				size_t		got;

				if (fp == NULL)
				{
					pg_log_error("could not open \"%s\": %m", files[k]);
					errors++;
					continue;
				}
				initPQExpBuffer(&b);
				while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
					appendBinaryPQExpBuffer(&b, chunk, got);
				fclose(fp);
				lint_one(conn, files[k], NULL, b.data, 1, &errors, &json);
				termPQExpBuffer(&b);
			}
		}
	if (opt.json)
		printf("[%s]\n", json.data);
	return errors > 0 ? EXIT_ERROR : EXIT_OK;
}

/*
 * What up would run, step by step, with the lint findings: the folder is
 * registered in a transaction that is rolled back, so nothing is stored.
 */
static int
cmd_plan(PGconn *conn, const Folder *f, const char *target)
{
	const Migration *blocker;
	const char *values[1];
	PGresult   *res;
	const char *sql_text =
		"SELECT p.version, p.name, p.step, p.kind, p.statements, "
		"  (SELECT string_agg(l.severity || ' ' || l.rule || ': ' || l.message, E'\\n') "
		"     FROM pg_catalog.migrate_lint(p.sql) l) AS lint "
		"FROM pg_catalog.migrate_plan($1) WITH ORDINALITY p ORDER BY p.ordinality";
	/* json_agg keeps the order of the plan's rows, the order of the run */
	const char *sql_json =
		"SELECT coalesce(json_agg(x), '[]') FROM ("
		"SELECT p.*, (SELECT coalesce(json_agg(l), '[]') FROM pg_catalog.migrate_lint(p.sql) l) AS lint "
		"FROM pg_catalog.migrate_plan($1) p) x";

	if (!register_folder(conn, f, true))
		return EXIT_ERROR;
	values[0] = blocked_target(f, target, &blocker);
	res = run(conn, "could not plan", "SELECT pg_catalog.set_config('lock_timeout', pg_catalog.current_setting('migrate.lock_timeout'), true)", 0, NULL);
	if (res)
	{
		PQclear(res);
		res = (blocker && values[0] == NULL) ? NULL :
			run(conn, "could not plan", opt.json ? sql_json : sql_text, 1, values);
	}
	if (res && opt.json)
		printf("%s\n", PQgetvalue(res, 0, 0));
	else if (res)
	{
		const char *last = "";

		if (PQntuples(res) == 0)
			printf("%s: nothing to apply\n", progname);
		for (int r = 0; r < PQntuples(res); r++)
		{
			const char *v = PQgetvalue(res, r, 0);

			if (strcmp(v, last) != 0)
			{
				const Migration *m = folder_lookup(f, v);

				printf("%s %s%s%s\n", v, shown_name(f, v, PQgetvalue(res, r, 1)),
					   m ? "  " : "", m ? m->up.path : "");
				last = v;
			}
			printf("  step %s: %s, %s statement%s\n", PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
				   PQgetvalue(res, r, 4), strcmp(PQgetvalue(res, r, 4), "1") == 0 ? "" : "s");
			if (!PQgetisnull(res, r, 5))
			{
				char	   *lint = pg_strdup(PQgetvalue(res, r, 5));
				char	   *save;

				for (char *l = strtok_r(lint, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
					printf("    lint: %s\n", l);
			}
		}
	}
	PQclear(PQexec(conn, "ROLLBACK"));
	if (blocker && !opt.json)
		printf("%s: stops before %s (\"%s\"), which pg_migrate cannot run\n", progname,
			   blocker->version, blocker->blocker);
	return res ? EXIT_OK : EXIT_ERROR;
}

/* The folder against the database: changed or missing applied files, order. */
static int
cmd_validate(PGconn *conn, const Folder *f)
{
	PQExpBufferData arrays[5];
	const char *values[6];
	PQExpBufferData q;
	PGresult   *res;
	int			problems = 0;

	folder_arrays(f, arrays);
	for (int a = 0; a < 4; a++)
		values[a] = arrays[a].data;
	values[4] = "true";
	values[5] = arrays[4].data;
	initPQExpBuffer(&q);
	appendPQExpBuffer(&q,
					  "SELECT x.version, x.name, x.drift, x.file, s.checksum, "
					  "  (SELECT checksum FROM unnest($1::text[], $3::text[]) u(v, checksum) WHERE u.v = x.version) "
					  "FROM (%s) x LEFT JOIN pg_catalog.migrate_status() s USING (version) "
					  "WHERE x.drift IS NOT NULL AND x.drift <> 'not registered' "
					  "UNION ALL "
					  "SELECT v.version, v.name, v.problem, NULL, v.detail, NULL FROM pg_catalog.migrate_validate() v "
					  "WHERE v.problem = 'out_of_order'", status_sql);
	res = run(conn, "could not validate", q.data, 6, values);
	if (res == NULL)
		return EXIT_ERROR;
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *drift = PQgetvalue(res, r, 2);

		problems++;
		if (strcmp(drift, "changed since applied") == 0)
			printf("%s %s: \"%s\" changed since it was applied (applied checksum %s, the file's %s)\n",
				   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 3),
				   PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
		else if (strcmp(drift, "out_of_order") == 0)
			printf("%s %s: %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 4));
		else
			printf("%s %s: %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), drift);
	}
	PQclear(res);
	if (problems == 0 && !opt.quiet)
		printf("%s: %s matches the database (%d migrations)\n", progname, f->where, f->n);
	return problems ? EXIT_DRIFT : EXIT_OK;
}

/* ---------------------------------------------------------------------
 * One database, and many
 * --------------------------------------------------------------------- */

/* What the command line asks of each database. */
typedef struct Job
{
	Command		cmd;
	const Folder *f;
	int			nargs;
	char	  **args;
} Job;

static int
run_one(const char *dbname, const char *override_dbname, const Job *job)
{
	PGconn	   *conn = connect_db(dbname, override_dbname);
	int			rc;
	const char *arg = job->nargs > 0 ? job->args[0] : NULL;

	if (conn == NULL)
		return EXIT_ERROR;
	if (!check_extension(conn))
	{
		PQfinish(conn);
		return EXIT_ERROR;
	}
	switch (job->cmd)
	{
		case CMD_STATUS:
			rc = cmd_status(conn, job->f);
			break;
		case CMD_UP:
			rc = cmd_up(conn, job->f, arg);
			break;
		case CMD_DOWN:
			rc = cmd_down(conn, job->f, arg);
			break;
		case CMD_LINT:
			rc = cmd_lint(conn, job->f, job->nargs, job->args);
			break;
		case CMD_PLAN:
			rc = cmd_plan(conn, job->f, arg);
			break;
		case CMD_VALIDATE:
			rc = cmd_validate(conn, job->f);
			break;
		case CMD_IMPORT:
			rc = cmd_import(conn, job->f);
			break;
		case CMD_BASELINE:
			rc = cmd_baseline(conn, job->f, arg);
			break;
		default:
			rc = EXIT_USAGE;
	}
	PQfinish(conn);
	return rc;
}

/* host:port/dbname of a conninfo, for the summary (never its password). */
static char *
dsn_label(const char *dsn)
{
	PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
	const char *host = NULL,
			   *port = NULL,
			   *db = NULL;
	char	   *label;

	if (opts == NULL)
		return pg_strdup(dsn);
	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	host = host ? host : opt.host;
	port = port ? port : opt.port;
	if (host == NULL && port == NULL)
		label = pg_strdup(db ? db : dsn);
	else
		label = psprintf("%s%s%s/%s", host ? host : "", port ? ":" : "", port ? port : "",
						 db ? db : "");
	PQconninfoFree(opts);
	return label;
}

typedef struct FleetMember
{
	char	   *dsn;
	char	   *dbname;			/* --all-databases: the database on that server */
	pid_t		pid;
	FILE	   *out;			/* its stdout and stderr, shown when it ends */
	int			rc;
	double		secs;
	struct timespec start;
} FleetMember;

/*
 * The same command on many databases, at most "jobs" at once, each in a
 * process of its own so that each outcome is independent; each database's
 * output is printed whole when it ends, then a summary table.  The exit
 * code is non-zero if any database's was.
 */
static int
run_fleet(SimpleStringList *dsns, const char *base, int jobs, const Job *job)
{
	int			n = 0;
	int			next = 0;
	int			running = 0;
	int			failed = 0;
	FleetMember *m;
	int			i = 0;

	for (SimpleStringListCell *c = dsns->head; c; c = c->next)
		n++;
	m = pg_malloc0(sizeof(FleetMember) * n);
	for (SimpleStringListCell *c = dsns->head; c; c = c->next, i++)
	{
		/* with a base, the list is of database names on its server */
		m[i].dsn = base ? (char *) base : c->val;
		m[i].dbname = base ? c->val : NULL;
	}
	fflush(stdout);
	fflush(stderr);

	while (next < n || running > 0)
	{
		while (next < n && running < jobs)
		{
			FleetMember *x = &m[next++];

			x->out = tmpfile();
			if (x->out == NULL)
				pg_fatal("could not create a temporary file: %m");
			clock_gettime(CLOCK_MONOTONIC, &x->start);
			x->pid = fork();
			if (x->pid < 0)
				pg_fatal("could not fork: %m");
			if (x->pid == 0)
			{
				dup2(fileno(x->out), STDOUT_FILENO);
				dup2(fileno(x->out), STDERR_FILENO);
				/* keep stdout and stderr lines in order in the file */
				setvbuf(stdout, NULL, _IOLBF, 0);
				exit(run_one(x->dsn, x->dbname, job));
			}
			running++;
		}
		{
			int			status;
			pid_t		pid = wait(&status);
			struct timespec end;
			char		buf[8192];
			size_t		got;

			if (pid < 0)
				pg_fatal("could not wait for a child process: %m");
			clock_gettime(CLOCK_MONOTONIC, &end);
			for (i = 0; i < n; i++)
				if (m[i].pid == pid)
					break;
			if (i == n)
				continue;
			running--;
			m[i].rc = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_ERROR;
			m[i].secs = (end.tv_sec - m[i].start.tv_sec) + (end.tv_nsec - m[i].start.tv_nsec) / 1e9;
			if (m[i].rc != EXIT_OK)
				failed++;
			printf("== %s\n", m[i].dbname ? m[i].dbname : dsn_label(m[i].dsn));
			rewind(m[i].out);
			while ((got = fread(buf, 1, sizeof(buf), m[i].out)) > 0)
				fwrite(buf, 1, got, stdout);
			fclose(m[i].out);
			fflush(stdout);
		}
	}

	printf("\n%-40s %-8s %4s %9s\n", "database", "result", "exit", "seconds");
	for (i = 0; i < n; i++)
		printf("%-40s %-8s %4d %9.1f\n", m[i].dbname ? m[i].dbname : dsn_label(m[i].dsn),
			   m[i].rc == EXIT_OK ? "ok" : "FAILED",
			   m[i].rc, m[i].secs);
	printf("%d of %d databases failed\n", failed, n);
	return failed > 0 ? EXIT_ERROR : EXIT_OK;
}

/*
 * --all-databases: the databases of the server that have the extension
 * (each is asked, since pg_extension is per database).
 */
static bool
list_databases(const char *base, SimpleStringList *out)
{
	PGconn	   *conn = connect_db(base, NULL);
	PGresult   *res;

	if (conn == NULL)
		return false;
	res = run(conn, "could not list the databases",
			  "SELECT datname FROM pg_catalog.pg_database "
			  "WHERE datallowconn AND NOT datistemplate ORDER BY datname", 0, NULL);
	PQfinish(conn);
	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++)
	{
		PGconn	   *db = connect_db(base, PQgetvalue(res, r, 0));
		PGresult   *ext;

		if (db == NULL)
			return false;
		ext = run(db, "could not check for the migrate extension",
				  "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'migrate'", 0, NULL);
		if (ext && PQntuples(ext) == 1)
			simple_string_list_append(out, PQgetvalue(res, r, 0));
		PQclear(ext);
		PQfinish(db);
	}
	PQclear(res);
	if (out->head == NULL)
	{
		pg_log_error("no database of this server has the migrate extension");
		return false;
	}
	return true;
}

/* One conninfo per line; blank lines and # comments skipped. */
static void
read_dsn_file(const char *path)
{
	FILE	   *fp = fopen(path, "r");
	char		line[4096];

	if (fp == NULL)
	{
		pg_log_error("could not open \"%s\": %m", path);
		exit(EXIT_ERROR);
	}
	while (fgets(line, sizeof(line), fp))
	{
		char	   *p = line;
		char	   *e;

		while (isspace((unsigned char) *p))
			p++;
		for (e = p + strlen(p); e > p && isspace((unsigned char) e[-1]); e--)
			;
		*e = '\0';
		if (*p && *p != '#')
			simple_string_list_append(&opt.dbnames, p);
	}
	fclose(fp);
}

/* ---------------------------------------------------------------------
 * main
 * --------------------------------------------------------------------- */
int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"no-password", no_argument, NULL, 'w'},
		{"password", no_argument, NULL, 'W'},
		{"quiet", no_argument, NULL, 'q'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{"dir", required_argument, NULL, 1},
		{"format", required_argument, NULL, 2},
		{"json", no_argument, NULL, 3},
		{"exit-code", no_argument, NULL, 4},
		{"to", required_argument, NULL, 5},
		{"all", no_argument, NULL, 6},
		{"dsn-file", required_argument, NULL, 7},
		{"all-databases", no_argument, NULL, 8},
		{"jobs", required_argument, NULL, 'j'},
		{"from", required_argument, NULL, 9},
		{"compat-history", no_argument, NULL, 10},
		{"no-compat-history", no_argument, NULL, 11},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			optindex;
	Command		cmd;
	const char *cmdname;
	Folder		folder;
	Folder	   *f = NULL;
	Job			job;
	int			jobs = 1;
	bool		all_databases = false;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(EXIT_OK);
	}
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
	{
		printf("%s (migrate) %s\n", progname, MIGRATE_EXTVERSION);
		exit(EXIT_OK);
	}

	/* options may come before and after the command */
	while ((c = getopt_long(argc, argv, "d:h:p:U:j:wWqV?", long_options, &optindex)) != -1)
	{
		switch (c)
		{
			case 'd':
				simple_string_list_append(&opt.dbnames, optarg);
				break;
			case 'h':
				opt.host = pg_strdup(optarg);
				break;
			case 'p':
				opt.port = pg_strdup(optarg);
				break;
			case 'U':
				opt.user = pg_strdup(optarg);
				break;
			case 'w':
				opt.prompt_password = TRI_NO;
				break;
			case 'W':
				opt.prompt_password = TRI_YES;
				break;
			case 'q':
				opt.quiet = true;
				break;
			case 'V':
				printf("%s (migrate) %s\n", progname, MIGRATE_EXTVERSION);
				exit(EXIT_OK);
			case '?':
				if (optopt == 0 || optopt == '?')
				{
					if (strcmp(argv[optind - 1], "-?") == 0 || strcmp(argv[optind - 1], "--help") == 0)
					{
						usage();
						exit(EXIT_OK);
					}
				}
				pg_log_error_hint("Try \"%s --help\" for more information.", progname);
				exit(EXIT_USAGE);
			case 1:
				simple_string_list_append(&opt.dirs, optarg);
				opt.dirs_given = true;
				break;
			case 2:
				opt.format = format_from_name(optarg);
				if (opt.format == FMT_NONE)
				{
					pg_log_error("unknown format \"%s\"", optarg);
					pg_log_error_hint("Use golang-migrate (or migrate), dbmate, flyway, prisma, goose or node-pg-migrate.");
					exit(EXIT_USAGE);
				}
				break;
			case 3:
				opt.json = true;
				break;
			case 4:
				opt.exit_code = true;
				break;
			case 5:
				opt.to = pg_strdup(optarg);
				break;
			case 6:
				opt.all = true;
				break;
			case 7:
				read_dsn_file(optarg);
				break;
			case 8:
				all_databases = true;
				break;
			case 9:
				opt.from = pg_strdup(optarg);
				break;
			case 10:
				opt.compat = COMPAT_ON;
				break;
			case 11:
				opt.compat = COMPAT_OFF;
				break;
			case 'j':
				if (!option_parse_int(optarg, "-j/--jobs", 1, 64, &jobs))
					exit(EXIT_USAGE);
				break;
			default:
				pg_log_error_hint("Try \"%s --help\" for more information.", progname);
				exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
	{
		pg_log_error("no command given");
		pg_log_error_hint("Try \"%s --help\" for more information.", progname);
		exit(EXIT_USAGE);
	}
	cmdname = argv[optind++];
	if (strcmp(cmdname, "status") == 0)
		cmd = CMD_STATUS;
	else if (strcmp(cmdname, "up") == 0)
		cmd = CMD_UP;
	else if (strcmp(cmdname, "down") == 0)
		cmd = CMD_DOWN;
	else if (strcmp(cmdname, "lint") == 0)
		cmd = CMD_LINT;
	else if (strcmp(cmdname, "plan") == 0)
		cmd = CMD_PLAN;
	else if (strcmp(cmdname, "validate") == 0)
		cmd = CMD_VALIDATE;
	else if (strcmp(cmdname, "new") == 0)
		cmd = CMD_NEW;
	else if (strcmp(cmdname, "import") == 0)
		cmd = CMD_IMPORT;
	else if (strcmp(cmdname, "baseline") == 0)
		cmd = CMD_BASELINE;
	else
	{
		pg_log_error("unknown command \"%s\"", cmdname);
		pg_log_error_hint("Try \"%s --help\" for more information.", progname);
		exit(EXIT_USAGE);
	}
	if ((cmd == CMD_UP || cmd == CMD_PLAN || cmd == CMD_DOWN) && argc - optind > 1)
	{
		pg_log_error("too many arguments for \"%s\"", cmdname);
		exit(EXIT_USAGE);
	}
	if (cmd == CMD_DOWN && (opt.to || opt.all) && (argc - optind > 0 || (opt.to && opt.all)))
	{
		pg_log_error("down takes one of N, --to VERSION and --all");
		exit(EXIT_USAGE);
	}
	if (cmd == CMD_DOWN && argc - optind == 1 && strspn(argv[optind], "0123456789") != strlen(argv[optind]))
	{
		pg_log_error("down takes a number of migrations, not \"%s\" (use --to VERSION)", argv[optind]);
		exit(EXIT_USAGE);
	}
	if (cmd == CMD_NEW && argc - optind != 1)
	{
		pg_log_error("new takes one argument, the migration's name");
		exit(EXIT_USAGE);
	}
	if (cmd == CMD_BASELINE && argc - optind != 1)
	{
		pg_log_error("baseline takes one argument, the version the database already has");
		exit(EXIT_USAGE);
	}
	if (opt.from && cmd != CMD_IMPORT)
	{
		pg_log_error("--from is an option of import");
		exit(EXIT_USAGE);
	}
	if ((cmd == CMD_STATUS || cmd == CMD_VALIDATE || cmd == CMD_IMPORT) && argc - optind > 0)
	{
		pg_log_error("too many arguments for \"%s\"", cmdname);
		exit(EXIT_USAGE);
	}

	/* the folder first: bad input fails before anything reaches the server */
	if (cmd == CMD_NEW)
	{
		if (!resolve_dirs(true))
			exit(EXIT_ERROR);
		exit(folder_new(&opt.dirs, opt.format, argv[optind]) ? EXIT_OK : EXIT_ERROR);
	}
	if (resolve_dirs(cmd == CMD_UP || cmd == CMD_PLAN || cmd == CMD_VALIDATE ||
					 cmd == CMD_IMPORT || cmd == CMD_BASELINE ||
					 (cmd == CMD_LINT && argc - optind == 0)))
	{
		if (!folder_read(&opt.dirs, opt.format, &folder))
			exit(EXIT_ERROR);
		f = &folder;
	}
	else if (opt.dirs_given || cmd == CMD_UP || cmd == CMD_PLAN || cmd == CMD_VALIDATE ||
			 cmd == CMD_IMPORT || cmd == CMD_BASELINE ||
			 (cmd == CMD_LINT && argc - optind == 0))
		exit(EXIT_ERROR);

	job.cmd = cmd;
	job.f = f;
	job.nargs = argc - optind;
	job.args = argv + optind;
	pqsignal(SIGINT, on_sigint);
	if (all_databases)
	{
		SimpleStringList dbs = {NULL, NULL};

		if (opt.dbnames.head && opt.dbnames.head->next)
		{
			pg_log_error("--all-databases takes at most one -d, the server's");
			exit(EXIT_USAGE);
		}
		if (!list_databases(opt.dbnames.head ? opt.dbnames.head->val : NULL, &dbs))
			exit(EXIT_ERROR);
		return run_fleet(&dbs, opt.dbnames.head ? opt.dbnames.head->val : "", jobs, &job);
	}
	if (opt.dbnames.head && opt.dbnames.head->next)
		return run_fleet(&opt.dbnames, NULL, jobs, &job);
	return run_one(opt.dbnames.head ? opt.dbnames.head->val : NULL, NULL, &job);
}
