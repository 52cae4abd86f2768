/*
 * store_int — the store's SQLite connection, for the modules that keep
 * their own tables in the same database (regstore.c) so that store.c does
 * not grow with every feature. Only broker storage modules include this;
 * the same rules hold there: prepared statements with bound parameters,
 * commit thread only (or a command-line tool's own connection).
 */
#ifndef SEKISHO_STORE_INT_H
#define SEKISHO_STORE_INT_H

#include <sqlite3.h>

struct store;

/* The connection; owned by the store, valid until store_close. */
sqlite3 *store_sqlite(struct store *st);

#endif
