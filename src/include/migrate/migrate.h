/*-------------------------------------------------------------------------
 *
 * migrate.h
 *	  Names shared by every subsystem of the migrate extension.
 *
 * src/include/migrate/migrate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_H
#define MIGRATE_H

/* Longest migration version accepted, including the terminating NUL. */
#define MIGRATE_VERSION_LEN	64

#endif							/* MIGRATE_H */
