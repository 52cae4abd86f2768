/*
 * spool — where uploads live on disk between "put" and delivery.
 *
 * A transfer's bytes are written to <dir>/<id>.part while they arrive and
 * renamed to <dir>/<id> when complete and verified. Names are transfer ids
 * (util_is_id), never anything a client sent, so no client input can reach a
 * path. Files are 0600, the directory 0700, and every operation works
 * relative to an O_DIRECTORY descriptor held open for the broker's life.
 *
 * Blocking: spool_commit and spool_sync are fsync-bound and must run on the
 * commit thread, never the event loop. The rest are cheap metadata calls.
 * Errors: -1 with errno preserved and a message in err.
 */
#ifndef SEKISHO_SPOOL_H
#define SEKISHO_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

struct spool;

/* Errors about one file name it (<id>.part, <id>) without the directory:
 * they may reach the sender through the transfer's error. */

/* Opens (creating 0700 if missing) the spool directory. The directory must
 * belong to the effective uid; group/other permission bits are removed. */
int spool_open(const char *dir, struct spool **out, char *err, size_t errlen);
void spool_close(struct spool *sp);

/* Creates <id>.part exclusively (O_EXCL, 0600) and returns a write fd. */
int spool_create(struct spool *sp, const char *id, int *fd,
    char *err, size_t errlen);

/*
 * Reopens <id>.part for a resumed upload: truncates it to offset (the last
 * durable offset the state store recorded), feeds bytes [0, offset) into md
 * (an initialised SHA-256 context) so hashing continues where it stopped,
 * and returns a read-write fd positioned at offset. Fails if the file is
 * shorter than offset. Reads the whole prefix (1 MiB at a time), so it
 * belongs on the commit thread for large offsets.
 */
int spool_reopen(struct spool *sp, const char *id, uint64_t offset,
    EVP_MD_CTX *md, int *fd, char *err, size_t errlen);

/* fsync(fd) of a partial file, so its current length is durable. A failed
 * fsync is never retried: the caller fails the transfer. */
int spool_sync(int fd, char *err, size_t errlen);

/* fsync(fd), rename <id>.part -> <id>, fsync the directory. On failure the
 * transfer must be failed (and spool_remove called); nothing is retried.
 * fd stays open and owned by the caller. An existing <id> is never
 * replaced (EEXIST). */
int spool_commit(struct spool *sp, const char *id, int fd,
    char *err, size_t errlen);

/* Renames <id> back to <id>.part (crash recovery of a commit whose state
 * update did not become durable) and fsyncs the directory. */
int spool_uncommit(struct spool *sp, const char *id, char *err, size_t errlen);

/* Removes <id>.part and <id> if present (missing is not an error). */
int spool_remove(struct spool *sp, const char *id, char *err, size_t errlen);

/* Size of <id>.part (final == 0) or <id> (final == 1); -1 if missing, not
 * a regular file, or id is not an id. */
int spool_stat(struct spool *sp, const char *id, int final, uint64_t *size);

/* Opens <id> read-only (for delivery and verification). */
int spool_open_read(struct spool *sp, const char *id, int *fd,
    char *err, size_t errlen);

/* The subdirectory (created 0700) where copies an operator must handle by
 * hand are kept; nothing in the broker reads or removes them. */
#define SPOOL_QUARANTINE "quarantine"

/* Moves the final file <id> into SPOOL_QUARANTINE/ (never replacing a file
 * there) and fsyncs both directories. *moved is 1 when it moved a file, 0
 * when there was none (missing, or moved by an earlier run). */
int spool_quarantine(struct spool *sp, const char *id, int *moved, char *err,
    size_t errlen);

/* Removes <id>.part only (missing is not an error): a final file is never
 * touched, whatever else is known about id. */
int spool_remove_partial(struct spool *sp, const char *id, char *err,
    size_t errlen);

/* Calls fn for every regular file named <id>.part (id a transfer id; any
 * other name is skipped) with its size and modification time (unix
 * seconds). fn returns 0 to go on, 1 to stop, -1 to fail. Returns 0, or
 * -1 with err (a directory read error, or fn's failure). */
int spool_each_partial(struct spool *sp,
    int (*fn)(const char *id, uint64_t size, int64_t mtime, void *arg),
    void *arg, char *err, size_t errlen);

/* Full path of a spool entry into out (for logs and operators only). */
int spool_path(const struct spool *sp, const char *id, int final,
    char *out, size_t outlen);

/* Free bytes on the spool's file system, for the disk-space guard. */
int spool_free_bytes(const struct spool *sp, uint64_t *out);

/*
 * Whether an upload of size bytes fits: free space, less keep_free
 * (limits.min_free_space) and less promised (what uploads in progress
 * declared and have not written yet), is at least size. 0 when it fits,
 * 1 when it does not, -1 when the free space cannot be read. *free_out
 * gets the free space when it could be read.
 */
int spool_has_room(const struct spool *sp, uint64_t keep_free,
    uint64_t promised, uint64_t size, uint64_t *free_out);

#endif
