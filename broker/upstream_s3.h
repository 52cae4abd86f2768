/*
 * upstream_s3 — delivery to an S3-compatible object store.
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4) in the forwarder; this
 * connector gives every request the payload hash libcurl cannot compute for
 * a streamed body (x-amz-content-sha256: the transfer's SHA-256, already
 * known, or a part's, hashed from the spool just before the part is sent)
 * and the same hash as x-amz-checksum-sha256, so the service verifies the
 * bytes it stores. Query strings are written in canonical form (sorted,
 * "key=value", RFC 3986 encoding), so what is sent is what is signed.
 *
 * One attempt:
 *   [HEAD key]   only when an earlier attempt may have arrived; an object
 *                whose x-amz-meta-sekisho-sha256 is the transfer's hash was
 *                delivered (nothing is sent again); any other object there
 *                fails the transfer (nothing is overwritten)
 *   PUT key      below multipart_threshold, in one request; an S3 PUT is
 *                atomic, so a failure leaves no partial object
 *   or multipart: POST ?uploads= (CreateMultipartUpload), then per part
 *                the part's SHA-256 and PUT ?partNumber=N&uploadId=X, then
 *                POST ?uploadId=X (CompleteMultipartUpload); any failure
 *                after the create sends DELETE ?uploadId=X (Abort), so no
 *                orphaned parts are left behind by a failed attempt.
 *
 * The object carries x-amz-meta-sekisho-sha256 and
 * x-amz-meta-sekisho-transfer. Endpoint forms: with `bucket` set, path
 * style (endpoint/bucket/key); without, the endpoint is the bucket's own
 * URL (virtual-hosted style).
 */
#ifndef SEKISHO_UPSTREAM_S3_H
#define SEKISHO_UPSTREAM_S3_H

#include "broker/upstream.h"

#define UPSTREAM_S3_MAX_PARTS 10000

extern const struct upstream_ops upstream_s3_ops;

/* The first element named name in an XML document, as text (for tests
 * and error reasons). 0 when found, -1 otherwise. Entities are not
 * expanded and no external resource is ever loaded. */
int upstream_s3_xml_text(const char *xml, size_t len, const char *name,
    char *out, size_t outlen);

#endif
