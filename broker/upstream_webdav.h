/*
 * upstream_webdav — delivery to a WebDAV server, or to any HTTPS endpoint
 * that accepts PUT and MOVE (RFC 4918).
 *
 * One attempt:
 *   [HEAD final]         only when an earlier attempt may have arrived;
 *                        if the object is there, GET it and compare its
 *                        SHA-256: the same bytes mean it was delivered
 *                        (nothing is sent again), other bytes fail the
 *                        transfer (nothing is overwritten)
 *   PUT  temporary       <dir>/.sekisho-<transfer>.part, streamed from the
 *                        spool; the bytes sent are hashed on the way and
 *                        must match the transfer's SHA-256
 *   MOVE temporary -> final   with "Overwrite: F", so an existing object
 *                        is never replaced; 412 (it exists) is answered as
 *                        after HEAD above
 *   HEAD final           the ETag and size of what arrived
 * A retry therefore never leaves a partial object under the final name and
 * never a second copy: the temporary name is the same for every attempt of
 * a transfer and is overwritten, and the MOVE is atomic on the server.
 *
 * The destination directory must exist or be created by the server on PUT
 * (nginx: create_full_put_path).
 */
#ifndef SEKISHO_UPSTREAM_WEBDAV_H
#define SEKISHO_UPSTREAM_WEBDAV_H

#include "broker/upstream.h"

extern const struct upstream_ops upstream_webdav_ops;

#endif
