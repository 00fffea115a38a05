/*-------------------------------------------------------------------------
 *
 * relation_risk.h
 *	  Whether a statement on a relation can hurt (relation_risk.c).
 *
 * src/include/migrate/relation_risk.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_RELATION_RISK_H
#define MIGRATE_RELATION_RISK_H

#include "nodes/primnodes.h"

/* What the engine knows about a relation a statement names. */
typedef struct RelFacts
{
	Oid			relid;			/* InvalidOid: not at risk */
	char		relkind;
	int64		bytes;
	char	   *name;			/* schema-qualified, quoted */
} RelFacts;

extern void relrisk_init(void);
extern bool relrisk_rv(List *created, RangeVar *rv, RelFacts *out);
extern bool relrisk_oid(Oid relid, RelFacts *out);
extern bool relrisk_created_in_script(List *created, RangeVar *rv);
extern char *relrisk_name(Oid relid);

#endif							/* MIGRATE_RELATION_RISK_H */
