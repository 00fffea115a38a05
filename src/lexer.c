/*-------------------------------------------------------------------------
 *
 * lexer.c
 *	  The server's own lexer over SQL text, token by token, with keyword
 *	  codes of our own (so no grammar header is needed).
 *
 * src/lexer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "parser/scanner.h"

#include "migrate/lexer.h"

/* ScanKeywords' order, each keyword's code of ours */
#define PG_KEYWORD(kwname, value, category, collabel) LEX_##value,
static const uint16 lexer_keyword_tokens[] = {
#include "parser/kwlist.h"
};

#undef PG_KEYWORD


void
lexer_start(Lexer *lx, const char *text)
{
	lx->scanner = scanner_init(text, &lx->extra, &ScanKeywords, lexer_keyword_tokens);
}

/* The next token, or 0 at the end. */
int
lexer_next(Lexer *lx)
{
	return core_yylex(&lx->val, &lx->loc, lx->scanner);
}

void
lexer_end(Lexer *lx)
{
	scanner_finish(lx->scanner);
}
