/*-------------------------------------------------------------------------
 *
 * pg_migrate.h
 *	  The migrations folder as the client reads it: one entry per version,
 *	  the exact bytes of its up and down sections, and where they came from.
 *
 * src/pg_migrate/pg_migrate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_MIGRATE_H
#define PG_MIGRATE_H

#include "fe_utils/simple_list.h"
#include "libpq-fe.h"
#include "pqexpbuffer.h"

typedef enum MigFormat
{
	FMT_NONE = 0,
	FMT_GOLANG,					/* golang-migrate, and migrate's own */
	FMT_DBMATE,
	FMT_FLYWAY,
	FMT_PRISMA,
	FMT_GOOSE,
	FMT_NODEPG,
	FMT_SQITCH
} MigFormat;

/* A run of bytes of one file that is registered as one script. */
typedef struct Section
{
	char	   *sql;			/* NUL-terminated copy; NULL when absent */
	size_t		len;
	char	   *path;			/* the file it comes from */
	int			line;			/* line of the file where it starts (1-based) */
} Section;

typedef struct Migration
{
	char	   *version;		/* as registered (the folder's spelling) */
	char	   *name;
	Section		up;
	Section		down;			/* down.sql NULL: irreversible */
	bool		nontransactional;	/* the tool's own no-transaction mark, or
									 * "-- migrate:no-transaction" */
	char	   *source;			/* the up file, relative to its directory */
	char	   *blocker;		/* a file the client cannot run (goose .go) */
} Migration;

typedef struct Folder
{
	MigFormat	format;
	Migration  *items;			/* sorted by version */
	int			n;
	int			cap;
	Migration  *repeatables;	/* Flyway R__: version and name are the
								 * name; sorted by it */
	int			nrep;
	int			caprep;
	char	   *where;			/* the directories, for messages */
	const char *note;			/* what of the folder is not used, if anything */
} Folder;

extern const char *format_name(MigFormat f);
extern MigFormat format_from_name(const char *name);
extern bool folder_read(SimpleStringList *dirs, MigFormat forced, Folder *folder);
extern int	version_cmp(const char *a, const char *b);
extern int	section_line_of(const Section *s, int charpos);
extern bool folder_new(SimpleStringList *dirs, MigFormat forced, const char *name);
extern bool folder_read_file(const char *path, char **buf, size_t *len);

/* pg_migrate.c */
extern char *sha256_hex(const char *data, size_t len);
extern void array_add(PQExpBuffer buf, const char *value);
extern void array_end(PQExpBuffer buf);

/* compat.c: the old tool's history table */
typedef enum CompatMode
{
	COMPAT_AUTO,				/* kept when it exists */
	COMPAT_ON,					/* created when missing */
	COMPAT_OFF
} CompatMode;

extern bool compat_prepare(PGconn *conn, const Folder *f, CompatMode mode);
extern bool compat_sync(PGconn *conn, const Folder *f);
extern const char *compat_table(const Folder *f);

#endif							/* PG_MIGRATE_H */
