/*-------------------------------------------------------------------------
 *
 * folder.c
 *	  Reads a team's migrations folder in its own tool's format (migrate's
 *	  own and golang-migrate, dbmate, Flyway, Prisma, goose, node-pg-migrate)
 *	  into versions and the exact bytes of their up and down sections.
 *
 * Each format is split the way its tool splits it (dbmate's and goose's
 * markers, Flyway's V/U names), so what the server registers, and
 * checksums, is exactly what that tool would have run.  Statements are
 * never split here: the server parses each section with its own parser.
 * Any bad input (empty folder, mixed formats, two files for one version,
 * an unreadable or non-UTF-8 file) is reported naming the file, before
 * anything reaches the server.
 *
 * src/pg_migrate/folder.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "common/logging.h"
#include "mb/pg_wchar.h"
#include "pqexpbuffer.h"

#include "pg_migrate.h"

/* A directory entry found while reading a folder. */
typedef struct Entry
{
	char	   *path;			/* full path */
	char	   *name;			/* the file (or directory) name */
	bool		isdir;
} Entry;

typedef struct EntryList
{
	Entry	   *e;
	int			n;
	int			cap;
} EntryList;

/* Directories already walked (a symlink loop leads back to one). */
typedef struct Visited
{
	dev_t		dev;
	ino_t		ino;
} Visited;

static const char *const format_names[] = {
	[FMT_NONE] = "none",
	[FMT_GOLANG] = "golang-migrate",
	[FMT_DBMATE] = "dbmate",
	[FMT_FLYWAY] = "flyway",
	[FMT_PRISMA] = "prisma",
	[FMT_GOOSE] = "goose",
	[FMT_NODEPG] = "node-pg-migrate",
	[FMT_SQITCH] = "sqitch",
};

const char *
format_name(MigFormat f)
{
	return format_names[f];
}

MigFormat
format_from_name(const char *name)
{
	if (strcmp(name, "migrate") == 0)
		return FMT_GOLANG;
	for (int i = FMT_GOLANG; i <= FMT_SQITCH; i++)
		if (pg_strcasecmp(name, format_names[i]) == 0)
			return (MigFormat) i;
	return FMT_NONE;
}

/* Go's and JavaScript's \s, which the tools' marker regexes use. */
static bool
is_re_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Compares two versions numerically part by part, as the server does
 * (leading zeros ignored, "1.9" < "1.10").
 */
int
version_cmp(const char *a, const char *b)
{
	while (*a || *b)
	{
		const char *ea,
				   *eb;
		size_t		la,
					lb;
		int			c;

		while (*a == '0' && isdigit((unsigned char) a[1]))
			a++;
		while (*b == '0' && isdigit((unsigned char) b[1]))
			b++;
		for (ea = a; isdigit((unsigned char) *ea); ea++)
			;
		for (eb = b; isdigit((unsigned char) *eb); eb++)
			;
		la = ea - a;
		lb = eb - b;
		if (la != lb)
			return la < lb ? -1 : 1;
		c = strncmp(a, b, la);
		if (c != 0)
			return c;
		a = ea;
		b = eb;
		if (*a == '.' && *b == '.')
		{
			a++;
			b++;
			continue;
		}
		if (*a == '\0' && *b == '\0')
			return 0;
		/* "1" < "1.0"; anything else is refused before it gets here */
		return *a == '\0' ? -1 : 1;
	}
	return 0;
}

/* Numbers separated by dots, what the server accepts. */
static bool
version_ok(const char *v)
{
	const char *p = v;

	if (!isdigit((unsigned char) *p))
		return false;
	while (*p)
	{
		while (isdigit((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		if (*p != '.' || !isdigit((unsigned char) p[1]))
			return false;
		p++;
	}
	return strlen(v) < 64;
}

/* The line of a character position (1-based, in characters) of a section. */
int
section_line_of(const Section *s, int charpos)
{
	int			line = s->line;
	int			chars = 0;

	for (size_t i = 0; i < s->len && chars < charpos - 1; i++)
	{
		if (((unsigned char) s->sql[i] & 0xC0) != 0x80)
			chars++;
		if (s->sql[i] == '\n' && chars < charpos)
			line++;
	}
	return line;
}

static int
line_at(const char *buf, size_t off)
{
	int			line = 1;

	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

/*
 * Reads a whole file; refuses what cannot be a script's text (a NUL byte,
 * bytes that are not UTF-8), naming the file and the line.
 */
static bool
read_whole(const char *path, char **buf, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	PQExpBufferData b;
	char		chunk[65536];
	size_t		got;
	int			valid;

	if (f == NULL)
	{
		pg_log_error("could not open \"%s\": %m", path);
		return false;
	}
	initPQExpBuffer(&b);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryPQExpBuffer(&b, chunk, got);
	if (ferror(f))
	{
		pg_log_error("could not read \"%s\": %m", path);
		fclose(f);
		termPQExpBuffer(&b);
		return false;
	}
	fclose(f);
	if (PQExpBufferBroken(&b))
		pg_fatal("out of memory");

	if (strlen(b.data) != b.len)
	{
		pg_log_error("\"%s\" contains a NUL byte (line %d)", path,
					 line_at(b.data, strlen(b.data)));
		pg_log_error_hint("A migration is SQL text; remove the byte or the file.");
		termPQExpBuffer(&b);
		return false;
	}
	valid = pg_encoding_verifymbstr(PG_UTF8, b.data, (int) b.len);
	if ((size_t) valid != b.len)
	{
		pg_log_error("\"%s\" is not valid UTF-8 (line %d, byte %d)", path,
					 line_at(b.data, valid), valid + 1);
		pg_log_error_hint("Convert the file to UTF-8 (iconv -f LATIN1 -t UTF-8, for example); nothing was registered.");
		termPQExpBuffer(&b);
		return false;
	}
	*buf = b.data;
	*len = b.len;
	return true;
}

/* A file's whole text as read_whole checks it, for pg_migrate import. */
bool
folder_read_file(const char *path, char **buf, size_t *len)
{
	return read_whole(path, buf, len);
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const Entry *) a)->name, ((const Entry *) b)->name);
}

static void
entries_add(EntryList *l, const char *path, const char *name, bool isdir)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = pg_realloc(l->e, l->cap * sizeof(Entry));
	}
	l->e[l->n].path = pg_strdup(path);
	l->e[l->n].name = pg_strdup(name);
	l->e[l->n].isdir = isdir;
	l->n++;
}

/*
 * Lists a directory (sorted by name; dot files skipped), into subdirectories
 * too when recursive (Flyway's locations), refusing a symlink loop.
 */
static bool
list_dir(const char *dir, bool recursive, EntryList *out,
		 Visited **visited, int *nvisited)
{
	DIR		   *d;
	struct dirent *de;
	struct stat st;
	EntryList	here = {0};

	if (stat(dir, &st) != 0)
	{
		pg_log_error("could not open directory \"%s\": %m", dir);
		return false;
	}
	for (int i = 0; i < *nvisited; i++)
		if ((*visited)[i].dev == st.st_dev && (*visited)[i].ino == st.st_ino)
		{
			pg_log_error("directory \"%s\" leads back to a directory already read (a symlink loop)", dir);
			pg_log_error_hint("Remove the link that points to one of its parents.");
			return false;
		}
	*visited = pg_realloc(*visited, (*nvisited + 1) * sizeof(Visited));
	(*visited)[*nvisited].dev = st.st_dev;
	(*visited)[*nvisited].ino = st.st_ino;
	(*nvisited)++;

	d = opendir(dir);
	if (d == NULL)
	{
		pg_log_error("could not open directory \"%s\": %m", dir);
		return false;
	}
	while (errno = 0, (de = readdir(d)) != NULL)
	{
		char	   *path;

		if (de->d_name[0] == '.')
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
		{
			pg_log_error("could not read \"%s\": %m", path);
			closedir(d);
			return false;
		}
		entries_add(&here, path, de->d_name, S_ISDIR(st.st_mode));
		pg_free(path);
	}
	if (errno != 0)
	{
		pg_log_error("could not read directory \"%s\": %m", dir);
		closedir(d);
		return false;
	}
	closedir(d);
	if (here.n > 0)
		qsort(here.e, here.n, sizeof(Entry), entry_cmp);
	for (int i = 0; i < here.n; i++)
	{
		if (here.e[i].isdir && recursive)
		{
			if (!list_dir(here.e[i].path, true, out, visited, nvisited))
				return false;
		}
		else
			entries_add(out, here.e[i].path, here.e[i].name, here.e[i].isdir);
	}
	return true;
}

/* Skips whitespace, -- comments and (nested) block comments. */
static const char *
skip_ws_comments(const char *p, const char *end)
{
	for (;;)
	{
		while (p < end && isspace((unsigned char) *p))
			p++;
		if (p + 1 < end && p[0] == '-' && p[1] == '-')
		{
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (p + 1 < end && p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			p += 2;
			while (p < end && depth > 0)
			{
				if (p + 1 < end && p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p + 1 < end && p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
			continue;
		}
		return p;
	}
}

/* Does a section hold anything but whitespace and comments? */
static bool
has_sql(const char *sql, size_t len)
{
	return skip_ws_comments(sql, sql + len) < sql + len;
}

/* Matches a keyword (case-insensitive) that is not the start of a longer word. */
static const char *
match_word(const char *p, const char *end, const char *word)
{
	size_t		n = strlen(word);

	if ((size_t) (end - p) < n || pg_strncasecmp(p, word, n) != 0)
		return NULL;
	if (p + n < end && (isalnum((unsigned char) p[n]) || p[n] == '_' || p[n] == '$'))
		return NULL;
	return p + n;
}

/*
 * A script that wraps itself in BEGIN; ... COMMIT; (golang-migrate's and
 * sqitch's users write this) runs as that one transaction: the section is
 * cut to what lies between, since the server runs a migration's
 * transactional statements in one transaction itself and refuses
 * transaction control.  Only a plain BEGIN / START TRANSACTION first and a
 * plain COMMIT / END last are cut; anything else reaches the server, which
 * names the statement.
 */
static void
strip_transaction_wrapper(Section *s)
{
	const char *start = s->sql;
	const char *end = s->sql + s->len;
	const char *p = skip_ws_comments(start, end);
	const char *q;
	const char *body;
	const char *tail;

	if ((q = match_word(p, end, "BEGIN")) != NULL)
	{
		const char *r = skip_ws_comments(q, end);
		const char *w;

		if ((w = match_word(r, end, "TRANSACTION")) != NULL ||
			(w = match_word(r, end, "WORK")) != NULL)
			q = w;
	}
	else if ((q = match_word(p, end, "START")) != NULL)
	{
		q = match_word(skip_ws_comments(q, end), end, "TRANSACTION");
		if (q == NULL)
			return;
	}
	else
		return;
	q = skip_ws_comments(q, end);
	if (q >= end || *q != ';')
		return;
	body = q + 1;

	/* the end: trailing whitespace and whole-line -- comments, then COMMIT; */
	tail = end;
	for (;;)
	{
		const char *ls;

		while (tail > body && isspace((unsigned char) tail[-1]))
			tail--;
		for (ls = tail; ls > body && ls[-1] != '\n'; ls--)
			;
		p = ls;
		while (p < tail && isspace((unsigned char) *p))
			p++;
		if (tail - p >= 2 && p[0] == '-' && p[1] == '-')
		{
			tail = ls;
			continue;
		}
		break;
	}
	if (tail > body && tail[-1] == ';')
		tail--;
	while (tail > body && isspace((unsigned char) tail[-1]))
		tail--;
	/* COMMIT [WORK | TRANSACTION] or END [...] */
	for (int i = 0; i < 2; i++)
	{
		const char *words[] = {"WORK", "TRANSACTION", "COMMIT", "END"};
		bool		found = false;

		for (int w = (i == 0 ? 0 : 2); w < (i == 0 ? 2 : 4); w++)
		{
			size_t		n = strlen(words[w]);

			if ((size_t) (tail - body) >= n &&
				pg_strncasecmp(tail - n, words[w], n) == 0 &&
				(tail - n == body || !(isalnum((unsigned char) tail[-n - 1]) || tail[-n - 1] == '_')))
			{
				const char *before = tail - n;

				if (i == 0)
				{
					/* WORK/TRANSACTION must follow COMMIT or END */
					const char *b = before;

					while (b > body && isspace((unsigned char) b[-1]))
						b--;
					if (!((b - body >= 6 && pg_strncasecmp(b - 6, "COMMIT", 6) == 0) ||
						  (b - body >= 3 && pg_strncasecmp(b - 3, "END", 3) == 0)))
						continue;
					tail = b;
				}
				else
					tail = before;
				found = true;
				break;
			}
		}
		if (i == 1 && !found)
			return;
	}
	/* the COMMIT must start a statement: a ';' or the body's start before it */
	p = tail;
	while (p > body && isspace((unsigned char) p[-1]))
		p--;
	if (p > body && p[-1] != ';')
	{
		/* a comment line may sit between the last statement and COMMIT */
		const char *ls;

		for (ls = p; ls > body && ls[-1] != '\n'; ls--)
			;
		while (ls < p && isspace((unsigned char) *ls))
			ls++;
		if (!(p - ls >= 2 && ls[0] == '-' && ls[1] == '-'))
			return;
	}

	s->line += line_at(s->sql, body - s->sql) - 1;
	s->len = tail - body;
	memmove(s->sql, body, s->len);
	s->sql[s->len] = '\0';
}

static Section
make_section(const char *path, const char *buf, size_t from, size_t to)
{
	Section		s;

	s.path = pg_strdup(path);
	s.len = to - from;
	s.sql = pg_malloc(s.len + 1);
	memcpy(s.sql, buf + from, s.len);
	s.sql[s.len] = '\0';
	s.line = line_at(buf, from);
	return s;
}

static Migration *
list_add(Migration **items, int *n, int *cap, const char *version, const char *name)
{
	Migration  *m;

	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 64;
		*items = pg_realloc(*items, *cap * sizeof(Migration));
	}
	m = &(*items)[(*n)++];
	memset(m, 0, sizeof(Migration));
	m->version = pg_strdup(version);
	m->name = pg_strdup(name);
	return m;
}

static Migration *
folder_add(Folder *f, const char *version, const char *name)
{
	return list_add(&f->items, &f->n, &f->cap, version, name);
}

static Migration *
folder_find(Folder *f, const char *version)
{
	for (int i = 0; i < f->n; i++)
		if (version_cmp(f->items[i].version, version) == 0)
			return &f->items[i];
	return NULL;
}

static bool
two_files(const char *version, const char *a, const char *b)
{
	pg_log_error("two files for version %s: \"%s\" and \"%s\"", version, a, b);
	pg_log_error_hint("Each version has one up script; rename or remove one of them (versions compare numerically: 007 and 7 are the same).");
	return false;
}

static bool
check_version(const char *version, const char *path)
{
	if (version_ok(version))
		return true;
	pg_log_error("\"%s\": \"%s\" is not a version migrate accepts", path, version);
	pg_log_error_hint("Versions are numbers separated by dots (1, 1.1, 20240101120000).");
	return false;
}

/* Leading digits of a name, or NULL; *rest points past them and one '_'. */
static char *
digit_prefix(const char *name, const char **rest)
{
	const char *p = name;

	while (isdigit((unsigned char) *p))
		p++;
	if (p == name)
		return NULL;
	*rest = *p == '_' ? p + 1 : p;
	return pnstrdup(name, p - name);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lf = strlen(suffix);

	return ls >= lf && strcmp(s + ls - lf, suffix) == 0;
}

/* A migration's name: the file name's rest without ".sql", or all of it. */
static char *
title_of(const char *rest, const char *filename)
{
	size_t		len = strlen(rest);

	if (len > 4 && ends_with(rest, ".sql"))
		return pnstrdup(rest, len - 4);
	return pg_strdup(filename);
}

static void
set_up(Migration *m, Section s)
{
	strip_transaction_wrapper(&s);
	m->up = s;
}

static void
set_down(Migration *m, Section s)
{
	strip_transaction_wrapper(&s);
	/* an empty or comment-only down script means irreversible */
	if (has_sql(s.sql, s.len))
		m->down = s;
}

/* ---------------------------------------------------------------------
 * golang-migrate (and migrate's own test/examples): N_name.up.sql and
 * N_name.down.sql; a missing or empty down file is irreversible.
 * --------------------------------------------------------------------- */
static bool
golang_name(const char *name, char **version, char **title, bool *up)
{
	const char *rest;
	size_t		len;

	if (!ends_with(name, ".sql"))
		return false;
	*version = digit_prefix(name, &rest);
	if (*version == NULL || rest == name || rest[-1] != '_')
		return false;
	len = strlen(rest);
	if (ends_with(rest, ".up.sql"))
	{
		*up = true;
		*title = pnstrdup(rest, len - 7);
	}
	else if (ends_with(rest, ".down.sql"))
	{
		*up = false;
		*title = pnstrdup(rest, len - 9);
	}
	else
		return false;
	return true;
}

static bool
read_golang(EntryList *files, Folder *f)
{
	/* up files first, so that a down file finds its migration */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < files->n; i++)
		{
			Entry	   *e = &files->e[i];
			char	   *version,
					   *title;
			bool		up;
			char	   *buf;
			size_t		len;
			Migration  *m;

			if (e->isdir || !golang_name(e->name, &version, &title, &up) || up != (pass == 0))
				continue;
			if (!check_version(version, e->path) || !read_whole(e->path, &buf, &len))
				return false;
			m = folder_find(f, version);
			if (up)
			{
				if (m)
					return two_files(version, m->up.path, e->path);
				m = folder_add(f, version, title);
				set_up(m, make_section(e->path, buf, 0, len));
			}
			else
			{
				if (m == NULL)
				{
					pg_log_error("\"%s\" has no up file", e->path);
					pg_log_error_hint("Add %s_%s.up.sql, or remove the down file.", version, title);
					return false;
				}
				if (m->down.path)
					return two_files(version, m->down.path, e->path);
				set_down(m, make_section(e->path, buf, 0, len));
				if (m->down.sql == NULL)
					m->down.path = pg_strdup(e->path);
			}
			pg_free(buf);
		}
	return true;
}

/* ---------------------------------------------------------------------
 * dbmate: one file, "-- migrate:up [transaction:false]" then
 * "-- migrate:down"; each section runs on its own.  The markers are found
 * with dbmate's own regular expressions, emulated here:
 *   up:   (?m)^--\s*migrate:up(\s*$|\s+\S+)
 *   down: (?m)^--\s*migrate:down(\s*$|\s+\S+)$
 * A file dbmate refuses (no up, no down, down first, statements before the
 * up marker) is refused with dbmate's reason.
 * --------------------------------------------------------------------- */
static const char *
after_marker(const char *p, const char *end, const char *word)
{
	size_t		n = strlen(word);

	if (end - p < 2 || p[0] != '-' || p[1] != '-')
		return NULL;
	p += 2;
	while (p < end && is_re_space(*p))
		p++;
	if ((size_t) (end - p) < n || strncmp(p, word, n) != 0)
		return NULL;
	return p + n;
}

static long
dbmate_find(const char *buf, size_t len, bool down)
{
	const char *end = buf + len;

	for (const char *ls = buf; ls < end; ls++)
	{
		const char *p;

		if (ls != buf && ls[-1] != '\n')
			continue;
		p = after_marker(ls, end, down ? "migrate:down" : "migrate:up");
		if (p == NULL)
			continue;
		if (p == end)
			return ls - buf;
		if (!is_re_space(*p))
			continue;
		if (!down)
			return ls - buf;
		/* down: whitespace to a line end, or one word ending its line */
		{
			const char *w = p;

			while (w < end && is_re_space(*w))
			{
				if (*w == '\n')
					return ls - buf;
				w++;
			}
			if (w == end)
				return ls - buf;
			while (w < end && !is_re_space(*w))
				w++;
			if (w == end || *w == '\n')
				return ls - buf;
		}
	}
	return -1;
}

static bool
dbmate_option_false(const char *sec, size_t len)
{
	const char *eol = memchr(sec, '\n', len);
	char	   *line = pnstrdup(sec, eol ? (size_t) (eol - sec) : len);
	bool		result = strstr(line, "transaction:false") != NULL;

	pg_free(line);
	return result;
}

static bool
read_dbmate_file(Entry *e, Folder *f)
{
	const char *rest;
	char	   *version = digit_prefix(e->name, &rest);
	char	   *buf;
	size_t		len;
	long		up,
				down;
	Migration  *m;

	if (!check_version(version, e->path) || !read_whole(e->path, &buf, &len))
		return false;
	up = dbmate_find(buf, len, false);
	down = dbmate_find(buf, len, true);
	if (up < 0)
	{
		pg_log_error("\"%s\": dbmate requires each migration to define an up block with '-- migrate:up'", e->path);
		return false;
	}
	if (down < 0)
	{
		pg_log_error("\"%s\": dbmate requires each migration to define a down block with '-- migrate:down'", e->path);
		pg_log_error_hint("dbmate finds the marker only at the start of a line, followed by at most one option such as transaction:false; an empty down block makes the migration irreversible.");
		return false;
	}
	if (up > down)
	{
		pg_log_error("\"%s\": dbmate requires '-- migrate:up' to appear before '-- migrate:down'", e->path);
		return false;
	}
	for (const char *ls = buf; ls < buf + up;)
	{
		const char *eol = memchr(ls, '\n', buf + up - ls);
		const char *p = ls;
		const char *le = eol ? eol : buf + up;

		while (p < le && is_re_space(*p))
			p++;
		if (p < le && !(le - p >= 2 && p[0] == '-' && p[1] == '-'))
		{
			pg_log_error("\"%s\", line %d: dbmate does not support statements preceding the '-- migrate:up' block",
						 e->path, line_at(buf, ls - buf));
			return false;
		}
		ls = le + 1;
	}

	if ((m = folder_find(f, version)) != NULL)
		return two_files(version, m->up.path, e->path);
	m = folder_add(f, version, title_of(rest, e->name));
	set_up(m, make_section(e->path, buf, up, down));
	set_down(m, make_section(e->path, buf, down, len));
	m->nontransactional = dbmate_option_false(buf + up, down - up);
	pg_free(buf);
	return true;
}

/* ---------------------------------------------------------------------
 * goose: "-- +goose Up" / "-- +goose Down", StatementBegin/StatementEnd
 * (the server's parser needs no help with a function body, so they are
 * only checked for balance), "-- +goose NO TRANSACTION".  A .go migration
 * cannot run here: it is recorded as a blocker.
 * --------------------------------------------------------------------- */
static const char *
goose_annotation(const char *ls, const char *le)
{
	static const char prefix[] = "-- +goose ";

	if ((size_t) (le - ls) < sizeof(prefix) - 1 || strncmp(ls, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	return ls + sizeof(prefix) - 1;
}

static bool
read_goose_file(Entry *e, Folder *f)
{
	const char *rest;
	char	   *version = digit_prefix(e->name, &rest);
	char	   *buf;
	size_t		len;
	long		up = -1,
				down = -1;
	int			depth = 0;
	bool		notx = false;
	Migration  *m;

	if (!check_version(version, e->path) || !read_whole(e->path, &buf, &len))
		return false;
	for (const char *ls = buf; ls < buf + len;)
	{
		const char *eol = memchr(ls, '\n', buf + len - ls);
		const char *le = eol ? eol : buf + len;
		const char *cmd = goose_annotation(ls, le);
		int			line = line_at(buf, ls - buf);

		if (le > ls && le[-1] == '\r')
			le--;
		if (cmd)
		{
			char	   *c = pnstrdup(cmd, le - cmd);

			/* trailing blanks are allowed */
			for (char *t = c + strlen(c); t > c && isspace((unsigned char) t[-1]); t--)
				t[-1] = '\0';
			if (pg_strcasecmp(c, "Up") == 0)
			{
				if (up >= 0)
				{
					pg_log_error("\"%s\", line %d: a second '-- +goose Up'", e->path, line);
					return false;
				}
				up = ls - buf;
			}
			else if (pg_strcasecmp(c, "Down") == 0)
			{
				if (up < 0 || down >= 0 || depth != 0)
				{
					pg_log_error("\"%s\", line %d: '-- +goose Down' %s", e->path, line,
								 up < 0 ? "before '-- +goose Up'" :
								 depth ? "inside StatementBegin ... StatementEnd" : "twice");
					return false;
				}
				down = ls - buf;
			}
			else if (pg_strcasecmp(c, "StatementBegin") == 0)
			{
				if (depth++ != 0 || up < 0)
				{
					pg_log_error("\"%s\", line %d: unexpected '-- +goose StatementBegin'", e->path, line);
					return false;
				}
			}
			else if (pg_strcasecmp(c, "StatementEnd") == 0)
			{
				if (--depth != 0)
				{
					pg_log_error("\"%s\", line %d: '-- +goose StatementEnd' without StatementBegin", e->path, line);
					return false;
				}
			}
			else if (pg_strcasecmp(c, "NO TRANSACTION") == 0)
				notx = true;
			else
			{
				pg_log_error("\"%s\", line %d: unsupported goose annotation \"%s\"", e->path, line, c);
				return false;
			}
			pg_free(c);
		}
		else if (up < 0)
		{
			const char *p = ls;

			while (p < le && isspace((unsigned char) *p))
				p++;
			if (p < le && !(le - p >= 2 && p[0] == '-' && p[1] == '-'))
			{
				pg_log_error("\"%s\", line %d: SQL before '-- +goose Up'", e->path, line);
				return false;
			}
		}
		ls = (eol ? eol : buf + len) + 1;
	}
	if (up < 0)
	{
		pg_log_error("\"%s\": no '-- +goose Up' annotation", e->path);
		return false;
	}
	if (depth != 0)
	{
		pg_log_error("\"%s\": '-- +goose StatementBegin' without StatementEnd", e->path);
		return false;
	}
	if ((m = folder_find(f, version)) != NULL)
		return two_files(version, m->up.path ? m->up.path : m->blocker, e->path);
	m = folder_add(f, version, title_of(rest, e->name));
	set_up(m, make_section(e->path, buf, up, down >= 0 ? (size_t) down : len));
	if (down >= 0)
		set_down(m, make_section(e->path, buf, down, len));
	m->nontransactional = notx;
	pg_free(buf);
	return true;
}

/* ---------------------------------------------------------------------
 * node-pg-migrate, SQL files: "-- Up Migration" / "-- Down Migration",
 * found with its regex (^\s*--[\s-]*up\s+migration, case-insensitive,
 * multiline); no up marker means the whole file is up.
 * --------------------------------------------------------------------- */
static long
nodepg_find(const char *buf, size_t len, const char *dir)
{
	const char *end = buf + len;

	for (const char *ls = buf; ls < end; ls++)
	{
		const char *p = ls;
		const char *q;

		if (ls != buf && ls[-1] != '\n')
			continue;
		while (p < end && is_re_space(*p))
			p++;
		if (end - p < 2 || p[0] != '-' || p[1] != '-')
			continue;
		p += 2;
		while (p < end && (is_re_space(*p) || *p == '-'))
			p++;
		if ((size_t) (end - p) < strlen(dir) || pg_strncasecmp(p, dir, strlen(dir)) != 0)
			continue;
		p += strlen(dir);
		q = p;
		while (p < end && is_re_space(*p))
			p++;
		if (p == q || end - p < 9 || pg_strncasecmp(p, "migration", 9) != 0)
			continue;
		return ls - buf;
	}
	return -1;
}

static bool
read_nodepg_file(Entry *e, Folder *f)
{
	const char *rest;
	char	   *version = digit_prefix(e->name, &rest);
	char	   *buf;
	size_t		len;
	long		up,
				down;
	Migration  *m;

	if (!check_version(version, e->path) || !read_whole(e->path, &buf, &len))
		return false;
	up = nodepg_find(buf, len, "up");
	down = nodepg_find(buf, len, "down");
	if ((m = folder_find(f, version)) != NULL)
		return two_files(version, m->up.path ? m->up.path : m->blocker, e->path);
	m = folder_add(f, version, title_of(rest, e->name));
	if (up < 0)
		up = 0;
	set_up(m, make_section(e->path, buf, up, (down > up) ? (size_t) down : len));
	if (down >= 0)
		set_down(m, make_section(e->path, buf, down, down < up ? (size_t) up : len));
	pg_free(buf);
	return true;
}

/* ---------------------------------------------------------------------
 * Flyway: V<version>__<desc>.sql with '_' or '.' between version parts,
 * U<version>__<desc>.sql its undo, R__<desc>.sql repeatable (registered
 * under <desc>), <file>.sql.conf with executeInTransaction=false; the
 * locations are read recursively.
 * --------------------------------------------------------------------- */
static bool
flyway_name(const char *name, char *kind, char **version, char **desc)
{
	const char *sep;
	char	   *v;

	if (!ends_with(name, ".sql") || strchr("VUR", name[0]) == NULL)
		return false;
	sep = strstr(name, "__");
	if (sep == NULL)
		return false;
	*kind = name[0];
	v = pnstrdup(name + 1, sep - name - 1);
	for (char *c = v; *c; c++)
		if (*c == '_')
			*c = '.';
	*version = v;
	*desc = pnstrdup(sep + 2, strlen(sep + 2) - 4);
	return true;
}

static bool
flyway_conf_notx(const char *sqlpath)
{
	char	   *conf = psprintf("%s.conf", sqlpath);
	FILE	   *fp = fopen(conf, "r");
	char		line[1024];
	bool		notx = false;

	pg_free(conf);
	if (fp == NULL)
		return false;
	while (fgets(line, sizeof(line), fp))
	{
		char	   *p = line;
		char	   *eq;

		while (isspace((unsigned char) *p))
			p++;
		eq = strchr(p, '=');
		if (eq == NULL || strncmp(p, "executeInTransaction", 20) != 0)
			continue;
		for (eq++; isspace((unsigned char) *eq); eq++)
			;
		if (pg_strncasecmp(eq, "false", 5) == 0)
			notx = true;
	}
	fclose(fp);
	return notx;
}

static bool
read_flyway(EntryList *files, Folder *f)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < files->n; i++)
		{
			Entry	   *e = &files->e[i];
			char		kind;
			char	   *version,
					   *desc;
			char	   *buf;
			size_t		len;
			Migration  *m;

			if (e->isdir || !flyway_name(e->name, &kind, &version, &desc))
				continue;
			if (kind == 'R')
			{
				if (pass == 1)
					continue;
				if (*version != '\0' || *desc == '\0' || strlen(desc) >= 64 ||
					strspn(desc, "0123456789.") == strlen(desc))
				{
					pg_log_error("\"%s\": a repeatable migration is named R__<name>.sql, its name a word of at most 63 bytes", e->path);
					return false;
				}
				for (int r = 0; r < f->nrep; r++)
					if (strcmp(f->repeatables[r].name, desc) == 0)
					{
						pg_log_error("two files for repeatable migration %s: \"%s\" and \"%s\"",
									 desc, f->repeatables[r].up.path, e->path);
						return false;
					}
				if (!read_whole(e->path, &buf, &len))
					return false;
				m = list_add(&f->repeatables, &f->nrep, &f->caprep, desc, desc);
				set_up(m, make_section(e->path, buf, 0, len));
				m->nontransactional = flyway_conf_notx(e->path);
				pg_free(buf);
				continue;
			}
			if ((kind == 'V') != (pass == 0))
				continue;
			if (!check_version(version, e->path) || !read_whole(e->path, &buf, &len))
				return false;
			m = folder_find(f, version);
			if (kind == 'V')
			{
				if (m)
					return two_files(version, m->up.path, e->path);
				m = folder_add(f, version, desc);
				set_up(m, make_section(e->path, buf, 0, len));
				m->nontransactional = flyway_conf_notx(e->path);
			}
			else
			{
				if (m == NULL)
				{
					pg_log_error("\"%s\" undoes version %s, which has no V file", e->path, version);
					return false;
				}
				if (m->down.path)
					return two_files(version, m->down.path, e->path);
				set_down(m, make_section(e->path, buf, 0, len));
				if (m->down.sql == NULL)
					m->down.path = pg_strdup(e->path);
			}
			pg_free(buf);
		}
	return true;
}

/* ---------------------------------------------------------------------
 * Prisma: <dir>/<timestamp>_<name>/migration.sql (+ migration_lock.toml),
 * in directory name order, forward only.
 * --------------------------------------------------------------------- */
static bool
read_prisma(EntryList *top, Folder *f)
{
	for (int i = 0; i < top->n; i++)
	{
		Entry	   *e = &top->e[i];
		const char *rest;
		char	   *version;
		char	   *path;
		char	   *buf;
		size_t		len;
		Migration  *m;
		struct stat st;

		if (!e->isdir)
			continue;
		version = digit_prefix(e->name, &rest);
		if (version == NULL)
		{
			pg_log_error("\"%s\": a Prisma migration directory starts with its timestamp", e->path);
			return false;
		}
		path = psprintf("%s/migration.sql", e->path);
		if (stat(path, &st) != 0)
		{
			pg_log_error("\"%s\" has no migration.sql", e->path);
			return false;
		}
		if (!read_whole(path, &buf, &len))
			return false;
		if ((m = folder_find(f, version)) != NULL)
			return two_files(version, m->up.path, path);
		m = folder_add(f, version, *rest ? rest : e->name);
		set_up(m, make_section(path, buf, 0, len));
		pg_free(buf);
	}
	return true;
}

/* ---------------------------------------------------------------------
 * sqitch: sqitch.plan (pragmas, change lines "name [deps] date planner
 * <email> # note", tag lines "@tag ..."), deploy/<name>.sql and
 * revert/<name>.sql.  The version is the change's place in the plan (1,
 * 2, ...), its name the change's.  A reworked change (the same name again
 * after a tag) is read as sqitch resolves it: the earlier instance from
 * deploy/<name>@<first tag after it>.sql.  Every dependency must come
 * earlier in the plan; scripts carry their own BEGIN/COMMIT, cut as for
 * golang-migrate; verify/ scripts are not run.
 * --------------------------------------------------------------------- */
typedef struct PlanLine
{
	char	   *name;			/* change name, or tag name with its '@' */
	char	   *deps;			/* the text inside [ ], or NULL */
	int			lineno;
} PlanLine;

static bool
sqitch_dep_known(PlanLine *lines, int upto, const char *dep)
{
	const char *at = strchr(dep, '@');

	for (int i = 0; i < upto; i++)
	{
		if (at == dep)
		{
			/* @tag */
			if (strcmp(lines[i].name, dep) == 0)
				return true;
		}
		else if (at)
		{
			/* change@tag: the change, then the tag, both earlier */
			if (strncmp(lines[i].name, dep, at - dep) == 0 && lines[i].name[at - dep] == '\0')
				for (int j = i + 1; j < upto; j++)
					if (strcmp(lines[j].name, at) == 0)
						return true;
		}
		else if (strcmp(lines[i].name, dep) == 0)
			return true;
	}
	return false;
}

static bool
read_sqitch(const char *dir, Folder *f)
{
	char	   *planpath = psprintf("%s/sqitch.plan", dir);
	char	   *buf;
	char	   *copy;
	size_t		len;
	PlanLine   *lines;
	int			n = 0;
	int			version = 0;
	char	   *save;
	int			lineno = 0;
	struct stat st;

	if (!read_whole(planpath, &buf, &len))
		return false;
	copy = pg_strdup(buf);
	lines = pg_malloc0(sizeof(PlanLine) * (len / 2 + 1));
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *p = line;
		char	   *name;
		char	   *e;

		/* strtok_r skips empty lines: the line number from the original */
		lineno = line_at(buf, line - copy);
		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0' || *p == '#' || *p == '%')
			continue;
		for (e = p; *e && !isspace((unsigned char) *e); e++)
			;
		name = pnstrdup(p, e - p);
		lines[n].name = name;
		lines[n].lineno = lineno;
		while (isspace((unsigned char) *e))
			e++;
		if (*e == '[')
		{
			char	   *close = strchr(e, ']');

			if (close == NULL)
			{
				pg_log_error("\"%s\", line %d: unterminated [ of the dependencies of \"%s\"",
							 planpath, lineno, name);
				return false;
			}
			lines[n].deps = pnstrdup(e + 1, close - e - 1);
		}
		n++;
	}

	for (int i = 0; i < n; i++)
	{
		PlanLine   *l = &lines[i];
		const char *tag = NULL;
		char	   *deploy,
				   *revert;
		char	   *dbuf;
		size_t		dlen;
		Migration  *m;
		char		v[16];

		if (l->name[0] == '@')
			continue;
		if (l->deps)
		{
			char	   *dsave;

			for (char *d = strtok_r(l->deps, " \t", &dsave); d; d = strtok_r(NULL, " \t", &dsave))
			{
				/* conflicts and other projects' changes are not ours to check */
				if (d[0] == '!' || strchr(d, ':'))
					continue;
				if (!sqitch_dep_known(lines, i, d))
				{
					pg_log_error("\"%s\", line %d: change \"%s\" requires \"%s\", which is not earlier in the plan",
								 planpath, l->lineno, l->name, d);
					pg_log_error_hint("Add the change it needs before it, or remove the dependency.");
					return false;
				}
			}
		}
		/* reworked later: this instance's scripts are name@<next tag> */
		for (int j = i + 1; j < n && tag == NULL; j++)
			if (strcmp(lines[j].name, l->name) == 0)
			{
				for (int k = i + 1; k < j && tag == NULL; k++)
					if (lines[k].name[0] == '@')
						tag = lines[k].name;
				if (tag == NULL)
				{
					pg_log_error("\"%s\", line %d: change \"%s\" appears again without a tag between",
								 planpath, lines[j].lineno, l->name);
					return false;
				}
			}
		deploy = psprintf("%s/deploy/%s%s.sql", dir, l->name, tag ? tag : "");
		revert = psprintf("%s/revert/%s%s.sql", dir, l->name, tag ? tag : "");
		if (!read_whole(deploy, &dbuf, &dlen))
			return false;
		snprintf(v, sizeof(v), "%d", ++version);
		m = folder_add(f, v, l->name);
		set_up(m, make_section(deploy, dbuf, 0, dlen));
		pg_free(dbuf);
		if (stat(revert, &st) == 0)
		{
			if (!read_whole(revert, &dbuf, &dlen))
				return false;
			set_down(m, make_section(revert, dbuf, 0, dlen));
			if (m->down.sql == NULL)
				m->down.path = pg_strdup(revert);
			pg_free(dbuf);
		}
	}
	pg_free(buf);
	if (version == 0)
	{
		pg_log_error("\"%s\" plans no change", planpath);
		return false;
	}
	if (stat(psprintf("%s/verify", dir), &st) == 0)
		f->note = "the sqitch verify/ scripts are not run";
	return true;
}

/* ---------------------------------------------------------------------
 * Detection
 * --------------------------------------------------------------------- */
static bool
file_contains_marker(const char *path, MigFormat *found)
{
	char	   *buf;
	size_t		len;

	*found = FMT_NONE;
	if (!read_whole(path, &buf, &len))
		return false;
	if (dbmate_find(buf, len, false) >= 0)
		*found = FMT_DBMATE;
	else
	{
		for (const char *ls = buf; ls < buf + len; ls++)
			if ((ls == buf || ls[-1] == '\n') && strncmp(ls, "-- +goose ", 10) == 0)
			{
				*found = FMT_GOOSE;
				break;
			}
		if (*found == FMT_NONE &&
			(nodepg_find(buf, len, "up") >= 0 || nodepg_find(buf, len, "down") >= 0))
			*found = FMT_NODEPG;
	}
	pg_free(buf);
	return true;
}

/* What format is one directory in?  NONE with a message when unknown. */
static bool
detect(const char *dir, EntryList *top, MigFormat *fmt)
{
	const char *unknown = NULL;	/* a numbered .sql file without markers */
	char	   *plan = psprintf("%s/sqitch.plan", dir);
	struct stat st;

	*fmt = FMT_NONE;
	if (stat(plan, &st) == 0)
	{
		*fmt = FMT_SQITCH;
		return true;
	}
	for (int i = 0; i < top->n; i++)
	{
		Entry	   *e = &top->e[i];
		MigFormat	this = FMT_NONE;
		char		kind;
		char	   *v,
				   *d;
		bool		up;

		if (e->isdir)
		{
			char	   *ms = psprintf("%s/migration.sql", e->path);

			if (stat(ms, &st) == 0)
				this = FMT_PRISMA;
			pg_free(ms);
		}
		else if (strcmp(e->name, "migration_lock.toml") == 0)
			this = FMT_PRISMA;
		else if (flyway_name(e->name, &kind, &v, &d))
			this = FMT_FLYWAY;
		else if (golang_name(e->name, &v, &d, &up))
			this = FMT_GOLANG;
		else if (ends_with(e->name, ".sql") && isdigit((unsigned char) e->name[0]))
		{
			if (!file_contains_marker(e->path, &this))
				return false;
			if (this == FMT_NONE && unknown == NULL)
				unknown = e->path;
		}
		if (this == FMT_NONE)
			continue;
		if (*fmt != FMT_NONE && *fmt != this)
		{
			pg_log_error("\"%s\" mixes formats: %s and %s (\"%s\")", dir,
						 format_name(*fmt), format_name(this), e->path);
			pg_log_error_hint("Keep one tool's migrations per folder, or name the format with --format.");
			return false;
		}
		*fmt = this;
	}
	if (*fmt == FMT_NONE)
	{
		/* Flyway locations may keep their files in subdirectories */
		for (int i = 0; i < top->n; i++)
			if (top->e[i].isdir)
			{
				EntryList	all = {0};
				Visited    *visited = NULL;
				int			nvisited = 0;

				if (!list_dir(top->e[i].path, true, &all, &visited, &nvisited))
					return false;
				for (int j = 0; j < all.n; j++)
				{
					char		kind;
					char	   *v,
							   *d;

					if (flyway_name(all.e[j].name, &kind, &v, &d))
						*fmt = FMT_FLYWAY;
				}
			}
	}
	if (*fmt == FMT_NONE && unknown != NULL)
	{
		pg_log_error("cannot tell the format of \"%s\"", unknown);
		pg_log_error_hint("Its name is not golang-migrate's (N_name.up.sql) or Flyway's (V1__name.sql) and it has no dbmate, goose or node-pg-migrate marker; name the format with --format.");
		return false;
	}
	return true;
}

static int
migration_cmp(const void *a, const void *b)
{
	return version_cmp(((const Migration *) a)->version, ((const Migration *) b)->version);
}

static bool
read_dir(const char *dir, MigFormat forced, Folder *f)
{
	EntryList	top = {0};
	EntryList	all = {0};
	Visited    *visited = NULL;
	int			nvisited = 0;
	MigFormat	fmt = forced;

	if (!list_dir(dir, false, &top, &visited, &nvisited))
		return false;
	if (fmt == FMT_NONE && !detect(dir, &top, &fmt))
		return false;
	if (fmt == FMT_NONE)
	{
		pg_log_error("no migrations found in \"%s\"", dir);
		pg_log_error_hint("pg_migrate reads golang-migrate, dbmate, Flyway, Prisma, goose, node-pg-migrate and sqitch folders; name another one with --dir.");
		return false;
	}
	if (f->format != FMT_NONE && f->format != fmt)
	{
		pg_log_error("\"%s\" is in %s format, the other directories in %s", dir,
					 format_name(fmt), format_name(f->format));
		return false;
	}
	f->format = fmt;

	switch (fmt)
	{
		case FMT_GOLANG:
			return read_golang(&top, f);
		case FMT_FLYWAY:
			visited = NULL;
			nvisited = 0;
			if (!list_dir(dir, true, &all, &visited, &nvisited))
				return false;
			return read_flyway(&all, f);
		case FMT_PRISMA:
			return read_prisma(&top, f);
		case FMT_DBMATE:
		case FMT_GOOSE:
		case FMT_NODEPG:
			for (int i = 0; i < top.n; i++)
			{
				Entry	   *e = &top.e[i];
				const char *rest;
				char	   *version;

				if (e->isdir || !isdigit((unsigned char) e->name[0]))
					continue;
				version = digit_prefix(e->name, &rest);
				if (!ends_with(e->name, ".sql"))
				{
					/* goose .go, node-pg-migrate .js/.ts: cannot run here */
					if ((fmt == FMT_GOOSE && ends_with(e->name, ".go")) ||
						(fmt == FMT_NODEPG && strchr(e->name, '.') &&
						 strstr(".js.ts.cjs.mjs.cts.mts", strrchr(e->name, '.'))))
					{
						Migration  *m = folder_find(f, version);

						if (m)
							return two_files(version, m->up.path ? m->up.path : m->blocker, e->path);
						m = folder_add(f, version, rest);
						m->blocker = pg_strdup(e->path);
					}
					continue;
				}
				if (!(fmt == FMT_DBMATE ? read_dbmate_file(e, f) :
					  fmt == FMT_GOOSE ? read_goose_file(e, f) :
					  read_nodepg_file(e, f)))
					return false;
			}
			return true;
		case FMT_SQITCH:
			return read_sqitch(dir, f);
		case FMT_NONE:
			break;
	}
	return false;
}

/* true if a line of sql starts with marker (our own marks, in any format) */
static bool
has_line(const char *sql, const char *marker)
{
	size_t		len = strlen(marker);

	for (const char *p = sql; p; p = strchr(p, '\n'))
	{
		if (*p == '\n')
			p++;
		if (strncmp(p, marker, len) == 0 &&
			(p[len] == '\0' || p[len] == '\n' || p[len] == '\r' || isspace((unsigned char) p[len])))
			return true;
	}
	return false;
}

/* the file as its folder names it, which the server keeps */
static void
set_source(Migration *m, const char *dir)
{
	const char *p = m->up.path;
	size_t		dirlen = strlen(dir);

	if (p && strncmp(p, dir, dirlen) == 0 && p[dirlen] == '/')
		p += dirlen + 1;
	m->source = p ? pg_strdup(p) : NULL;
}

static int
repeatable_cmp(const void *a, const void *b)
{
	return strcmp(((const Migration *) a)->name, ((const Migration *) b)->name);
}

/*
 * Reads every directory (one format for all), sorted by version.  Returns
 * false, with the reason printed, on any bad input.
 */
bool
folder_read(SimpleStringList *dirs, MigFormat forced, Folder *f)
{
	PQExpBufferData where;

	memset(f, 0, sizeof(Folder));
	initPQExpBuffer(&where);
	for (SimpleStringListCell *c = dirs->head; c; c = c->next)
	{
		int			first = f->n;
		int			firstrep = f->nrep;

		appendPQExpBuffer(&where, "%s\"%s\"", where.len ? ", " : "", c->val);
		if (!read_dir(c->val, forced, f))
			return false;
		for (int i = first; i < f->n; i++)
			set_source(&f->items[i], c->val);
		for (int i = firstrep; i < f->nrep; i++)
			set_source(&f->repeatables[i], c->val);
	}
	f->where = where.data;
	if (f->n == 0)
	{
		pg_log_error("no migrations found in %s", f->where);
		pg_log_error_hint("Name the folder with --dir, or its format with --format.");
		return false;
	}
	qsort(f->items, f->n, sizeof(Migration), migration_cmp);
	if (f->nrep > 0)
		qsort(f->repeatables, f->nrep, sizeof(Migration), repeatable_cmp);
	for (int i = 0; i < f->n + f->nrep; i++)
	{
		Migration  *m = i < f->n ? &f->items[i] : &f->repeatables[i - f->n];

		if (m->up.sql && has_line(m->up.sql, "-- migrate:no-transaction"))
			m->nontransactional = true;
		if (m->blocker == NULL && !has_sql(m->up.sql, m->up.len))
		{
			pg_log_error("\"%s\": the up %s of version %s holds no SQL statement",
						 m->up.path, f->format == FMT_DBMATE || f->format == FMT_GOOSE ||
						 f->format == FMT_NODEPG ? "section" : "script", m->version);
			pg_log_error_hint("Write the migration's SQL, or remove the file.");
			return false;
		}
	}
	return true;
}

/*
 * pg_migrate new NAME: writes the next migration in the folder's own
 * format and naming (the first directory).
 */
bool
folder_new(SimpleStringList *dirs, MigFormat forced, const char *name)
{
	Folder		f;
	const char *dir = dirs->head->val;
	char		stamp[32];
	time_t		now = time(NULL);
	char	   *next = NULL;
	const char *width = "";
	PQExpBufferData up,
				down;
	const char *uptext = "-- write the migration here\n";
	bool		ok = true;

	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", gmtime(&now));
	if (!folder_read(dirs, forced, &f))
		return false;
	initPQExpBuffer(&up);
	initPQExpBuffer(&down);
	{
		const char *last = f.items[f.n - 1].version;
		bool		timestamps = strlen(last) >= 12 && strchr(last, '.') == NULL;

		if (timestamps)
			next = pg_strdup(stamp);
		else
		{
			/* the next integer of the first part, in the same width */
			long		n = strtol(last, NULL, 10) + 1;
			size_t		digits = strspn(last, "0123456789");

			width = last[0] == '0' ? "0" : "";
			next = psprintf("%0*ld", *width ? (int) digits : 1, n);
		}
	}
	switch (f.format)
	{
		case FMT_GOLANG:
			appendPQExpBuffer(&up, "%s/%s_%s.up.sql", dir, next, name);
			appendPQExpBuffer(&down, "%s/%s_%s.down.sql", dir, next, name);
			break;
		case FMT_FLYWAY:
			appendPQExpBuffer(&up, "%s/V%s__%s.sql", dir, next, name);
			break;
		case FMT_PRISMA:
			{
				char	   *d = psprintf("%s/%s_%s", dir, next, name);

				if (mkdir(d, 0777) != 0)
				{
					pg_log_error("could not create directory \"%s\": %m", d);
					return false;
				}
				appendPQExpBuffer(&up, "%s/migration.sql", d);
				break;
			}
		case FMT_DBMATE:
			appendPQExpBuffer(&up, "%s/%s_%s.sql", dir, next, name);
			uptext = "-- migrate:up\n\n\n-- migrate:down\n\n";
			break;
		case FMT_GOOSE:
			appendPQExpBuffer(&up, "%s/%s_%s.sql", dir, next, name);
			uptext = "-- +goose Up\n\n\n-- +goose Down\n\n";
			break;
		case FMT_NODEPG:
			appendPQExpBuffer(&up, "%s/%s_%s.sql", dir, next, name);
			uptext = "-- Up Migration\n\n\n-- Down Migration\n\n";
			break;
		case FMT_SQITCH:
		case FMT_NONE:
			pg_log_error("pg_migrate new does not write %s changes", format_name(f.format));
			pg_log_error_hint("Use sqitch add %s.", name);
			return false;
	}
	for (int i = 0; i < 2 && ok; i++)
	{
		const char *path = i == 0 ? up.data : down.data;
		FILE	   *fp;

		if (*path == '\0')
			continue;
		fp = fopen(path, "wx");
		if (fp == NULL || fputs(i == 0 ? uptext : "", fp) < 0 || fclose(fp) != 0)
		{
			pg_log_error("could not create \"%s\": %m", path);
			ok = false;
		}
		else
			printf("%s\n", path);
	}
	return ok;
}
