/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The migrate.* settings.
 *
 * src/include/migrate/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATE_SETTINGS_H
#define MIGRATE_SETTINGS_H

extern int	migrate_lock_timeout;
extern int	migrate_lock_timeout_initial;
extern int	migrate_lock_retries;
extern int	migrate_lock_wait_budget;
extern int	migrate_max_workers;
extern int	migrate_max_script_size;
extern int	migrate_run_wait_timeout;
extern bool migrate_out_of_order;

extern void migrate_guc_init(void);
extern int	migrate_backfill_role_cap(void);

#endif							/* MIGRATE_SETTINGS_H */
