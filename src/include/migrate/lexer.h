/*-------------------------------------------------------------------------
 *
 * lexer.h
 *	  The server's lexer over SQL text, token by token (lexer.c).
 *
 * src/include/migrate/lexer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_LEXER_H
#define MIGRATE_LEXER_H

#include "parser/scanner.h"

/*
 * The lexer's code for each of the server's keywords, LEX_ and the
 * grammar's name (LEX_CREATE), in kwlist.h's order, which is ScanKeywords'
 * order.  The grammar's own codes are in parser/gram.h, which servers from
 * 16 on no longer install; these start far above every code the grammar
 * has (characters, then a few hundred bison tokens), so that no
 * identifier, constant or operator compares equal to a keyword.
 */
#define PG_KEYWORD(kwname, value, category, collabel) LEX_##value,
typedef enum LexKeyword
{
	LEX_KEYWORD_BASE = 0x4000,
#include "parser/kwlist.h"
} LexKeyword;
#undef PG_KEYWORD

/* The server's lexer over a statement's source, token by token. */
typedef struct Lexer
{
	core_yyscan_t scanner;
	core_yy_extra_type extra;
	core_YYSTYPE val;
	YYLTYPE		loc;			/* offset of the last token */
} Lexer;

extern void lexer_start(Lexer *lx, const char *text);
extern int	lexer_next(Lexer *lx);
extern void lexer_end(Lexer *lx);

#endif							/* MIGRATE_LEXER_H */
