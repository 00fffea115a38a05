/*-------------------------------------------------------------------------
 *
 * rules.h
 *	  The DDL-safety rules (rules.c) and what breaking one looks like.
 *
 * src/include/migrate/rules.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_RULES_H
#define MIGRATE_RULES_H

#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"

typedef enum RuleId
{
	RULE_CREATE_INDEX_BLOCKING,
	RULE_DROP_INDEX_BLOCKING,
	RULE_REINDEX_BLOCKING,
	RULE_ADD_COLUMN_REWRITE,
	RULE_ADD_COLUMN_REQUIRED,
	RULE_COLUMN_TYPE_REWRITE,
	RULE_SET_NOT_NULL_SCAN,
	RULE_FOREIGN_KEY_VALIDATING,
	RULE_CHECK_VALIDATING,
	RULE_UNIQUE_CONSTRAINT_BLOCKING,
	RULE_EXCLUSION_CONSTRAINT,
	RULE_VALIDATE_SAME_TRANSACTION,
	RULE_RENAME_COLUMN,
	RULE_RENAME_TABLE,
	RULE_DROP_COLUMN,
	RULE_DROP_TABLE,
	RULE_SET_LOGGED,
	RULE_SET_TABLESPACE,
	RULE_SET_ACCESS_METHOD,
	RULE_VACUUM_FULL,
	RULE_CLUSTER,
	RULE_LOCK_TABLE,
	RULE_TRUNCATE,
	RULE_REFRESH_MATVIEW_BLOCKING,
	RULE_ATTACH_PARTITION_SCAN,
	RULE_DETACH_PARTITION_BLOCKING,
	RULE_DOMAIN_CONSTRAINT,
	RULE_MISSING_LOCK_TIMEOUT,
	RULE_DDL_WITH_DML,			/* lint only */
	RULE_UPDATE_UNBATCHED,		/* lint only */
	RULE_COUNT
} RuleId;

typedef struct RuleDef
{
	const char *id;
	bool		is_error;		/* default severity: error, else warning */
	bool		lint_only;
	const char *catches;
	const char *lock;
	const char *alternative;	/* with example SQL */
} RuleDef;

extern const RuleDef migrate_rules[RULE_COUNT];

/* One broken rule. */
typedef struct Finding
{
	RuleId		rule;
	Oid			relid;			/* InvalidOid if none */
	char	   *relation;		/* qualified name, NULL if none */
	LOCKMODE	lockmode;
	char	   *message;
	char	   *hint;
} Finding;

extern int	rules_lookup(const char *id);
extern bool rules_parse_list(const char *value, bool *allowed, char **bad);

#endif							/* MIGRATE_RULES_H */
