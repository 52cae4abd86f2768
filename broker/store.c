/*
 * store — see store.h.
 *
 * The schema is a list of numbered migrations. Migration N is applied once,
 * in its own transaction together with the row (N) in schema_version, so a
 * crash leaves the database at N-1 or N and never in between. A migration is
 * never edited after release: a change is a new migration at the end. A
 * database that has a migration this code does not know (a newer sekishod
 * was run against it) is refused instead of being written with an older
 * idea of the schema.
 *
 * All SQL that touches data is prepared once at open and bound with
 * parameters; after each use a statement is reset and its bindings cleared,
 * so no statement stays active across calls (COMMIT and ROLLBACK are never
 * blocked by a forgotten reader) and no bound pointer outlives the call.
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT has reached the disk
 * when store_commit returns. The connection is used by one thread at a time
 * (the commit thread); SQLite's own mutexes stay on as a safety net.
 */
#include "broker/store.h"
#include "broker/store_int.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define STORE_BUSY_MS 5000
#define STORE_EACH_PAGE 64	/* rows fetched per page in store_transfer_each */

/* The CHECK constraints below spell these limits out as literals; text
 * lengths are checked in bytes (CAST AS BLOB), as the C fields are sized. */
_Static_assert(UTIL_ID_LEN == 32, "transfers.id CHECK assumes 32");
_Static_assert(UTIL_SHA256_HEX == 64, "transfers CHECKs assume 64");
_Static_assert(WIRE_MAX_NAME == 1024, "transfers.name CHECK assumes 1024");
_Static_assert(WIRE_MAX_PURPOSE == 512, "transfers.purpose CHECK assumes 512");

/* The columns of migration 1, which inserts name. */
#define TRANSFER_COLUMNS_V1 \
	"id, user, dept, terminal, cert_fp, interface, name, purpose, size, " \
	"class, state, received, sha256, error, created, updated"

/*
 * Migration N is store_migrations[N - 1]. Append only.
 */
static const char *const store_migrations[] = {
	/* 1: transfers */
	"CREATE TABLE transfers ("
	" id TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	" user TEXT NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" dept TEXT NOT NULL CHECK (length(CAST(dept AS BLOB)) <= 64),"
	" terminal TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(terminal AS BLOB)) <= 64),"
	" cert_fp TEXT NOT NULL"
	"  CHECK (length(cert_fp) = 64 AND cert_fp NOT GLOB '*[^0-9a-f]*'),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) <= 1024),"
	" purpose TEXT NOT NULL CHECK (length(CAST(purpose AS BLOB)) <= 512),"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" class INTEGER NOT NULL CHECK (class BETWEEN 1 AND 3),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('receiving', 'stored', 'failed', 'expired')),"
	" received INTEGER NOT NULL DEFAULT 0"
	"  CHECK (received >= 0 AND received <= size),"
	" sha256 TEXT NOT NULL DEFAULT ''"
	"  CHECK (sha256 = '' OR (length(sha256) = 64"
	"   AND sha256 NOT GLOB '*[^0-9a-f]*')),"
	" error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(error AS BLOB)) < 256),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" CHECK (state <> 'stored' OR sha256 <> '')"
	") STRICT;"
	"CREATE INDEX transfers_state_updated ON transfers (state, updated);"
	"CREATE INDEX transfers_user ON transfers (user);",
	/* 2: delivery. SQLite cannot change a CHECK in place, so the table is
	 * rebuilt with the new states and the delivery columns. */
	"CREATE TABLE transfers_v2 ("
	" id TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	" user TEXT NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" dept TEXT NOT NULL CHECK (length(CAST(dept AS BLOB)) <= 64),"
	" terminal TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(terminal AS BLOB)) <= 64),"
	" cert_fp TEXT NOT NULL"
	"  CHECK (length(cert_fp) = 64 AND cert_fp NOT GLOB '*[^0-9a-f]*'),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) <= 1024),"
	" purpose TEXT NOT NULL CHECK (length(CAST(purpose AS BLOB)) <= 512),"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" class INTEGER NOT NULL CHECK (class BETWEEN 1 AND 3),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('receiving', 'stored', 'queued', 'forwarding',"
	"   'delivered', 'failed', 'expired')),"
	" received INTEGER NOT NULL DEFAULT 0"
	"  CHECK (received >= 0 AND received <= size),"
	" sha256 TEXT NOT NULL DEFAULT ''"
	"  CHECK (sha256 = '' OR (length(sha256) = 64"
	"   AND sha256 NOT GLOB '*[^0-9a-f]*')),"
	" error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(error AS BLOB)) < 256),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" queued_at INTEGER NOT NULL DEFAULT 0 CHECK (queued_at >= 0),"
	" attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 1000000),"
	" next_attempt_at INTEGER NOT NULL DEFAULT 0 CHECK (next_attempt_at >= 0),"
	" last_error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(last_error AS BLOB)) < 256),"
	" destination TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(destination AS BLOB)) <= 2048),"
	" upstream_status INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_status BETWEEN 0 AND 999),"
	" upstream_etag TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_etag AS BLOB)) <= 128),"
	" upstream_version TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_version AS BLOB)) <= 128),"
	" upstream_bytes INTEGER NOT NULL DEFAULT 0 CHECK (upstream_bytes >= 0),"
	" upstream_duration_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_duration_ms >= 0),"
	" upstream_spki TEXT NOT NULL DEFAULT ''"
	"  CHECK (upstream_spki = '' OR (length(upstream_spki) = 64"
	"   AND upstream_spki NOT GLOB '*[^0-9a-f]*')),"
	" spool_until INTEGER NOT NULL DEFAULT 0 CHECK (spool_until >= 0),"
	" CHECK (state NOT IN ('stored', 'queued', 'forwarding', 'delivered')"
	"  OR sha256 <> '')"
	") STRICT;"
	"INSERT INTO transfers_v2 (" TRANSFER_COLUMNS_V1 ") SELECT "
	TRANSFER_COLUMNS_V1 " FROM transfers;"
	"DROP TABLE transfers;"
	"ALTER TABLE transfers_v2 RENAME TO transfers;"
	"CREATE INDEX transfers_state_updated ON transfers (state, updated);"
	"CREATE INDEX transfers_user ON transfers (user);"
	"CREATE INDEX transfers_spool_until ON transfers (spool_until)"
	" WHERE spool_until > 0;",
	/* 3: TOTP step-up secrets and counters, and the queue of audit events
	 * the administrator's command line leaves for the broker. */
	"CREATE TABLE totp ("
	" user TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" secret_ct BLOB NOT NULL CHECK (length(secret_ct) BETWEEN 17 AND 64),"
	" nonce BLOB NOT NULL CHECK (length(nonce) = 12),"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'active')),"
	" last_step INTEGER NOT NULL DEFAULT 0 CHECK (last_step >= 0),"
	" failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
	" locked_until INTEGER NOT NULL DEFAULT 0 CHECK (locked_until >= 0),"
	" lock_count INTEGER NOT NULL DEFAULT 0 CHECK (lock_count >= 0),"
	" created INTEGER NOT NULL,"
	" activated INTEGER NOT NULL DEFAULT 0,"
	" CHECK (state = 'pending' OR activated > 0)"
	") STRICT;"
	"CREATE TABLE totp_audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" type TEXT NOT NULL CHECK (length(CAST(type AS BLOB)) BETWEEN 1 AND 31),"
	" user TEXT NOT NULL CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" actor TEXT NOT NULL CHECK (length(CAST(actor AS BLOB)) <= 64),"
	" detail TEXT NOT NULL CHECK (length(CAST(detail AS BLOB)) < 128)"
	") STRICT;",
	/* 4: approval officers. The transfers table is rebuilt once more for
	 * the states "held" (waiting for officers) and "rejected"; then the
	 * held transfers' requests, the officers' votes, exceptions and the
	 * transfers that went through them. */
	"CREATE TABLE transfers_v4 ("
	" id TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	" user TEXT NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" dept TEXT NOT NULL CHECK (length(CAST(dept AS BLOB)) <= 64),"
	" terminal TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(terminal AS BLOB)) <= 64),"
	" cert_fp TEXT NOT NULL"
	"  CHECK (length(cert_fp) = 64 AND cert_fp NOT GLOB '*[^0-9a-f]*'),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) <= 1024),"
	" purpose TEXT NOT NULL CHECK (length(CAST(purpose AS BLOB)) <= 512),"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" class INTEGER NOT NULL CHECK (class BETWEEN 1 AND 3),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('receiving', 'stored', 'held', 'rejected',"
	"   'queued', 'forwarding', 'delivered', 'failed', 'expired')),"
	" received INTEGER NOT NULL DEFAULT 0"
	"  CHECK (received >= 0 AND received <= size),"
	" sha256 TEXT NOT NULL DEFAULT ''"
	"  CHECK (sha256 = '' OR (length(sha256) = 64"
	"   AND sha256 NOT GLOB '*[^0-9a-f]*')),"
	" error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(error AS BLOB)) < 256),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" queued_at INTEGER NOT NULL DEFAULT 0 CHECK (queued_at >= 0),"
	" attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 1000000),"
	" next_attempt_at INTEGER NOT NULL DEFAULT 0 CHECK (next_attempt_at >= 0),"
	" last_error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(last_error AS BLOB)) < 256),"
	" destination TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(destination AS BLOB)) <= 2048),"
	" upstream_status INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_status BETWEEN 0 AND 999),"
	" upstream_etag TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_etag AS BLOB)) <= 128),"
	" upstream_version TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_version AS BLOB)) <= 128),"
	" upstream_bytes INTEGER NOT NULL DEFAULT 0 CHECK (upstream_bytes >= 0),"
	" upstream_duration_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_duration_ms >= 0),"
	" upstream_spki TEXT NOT NULL DEFAULT ''"
	"  CHECK (upstream_spki = '' OR (length(upstream_spki) = 64"
	"   AND upstream_spki NOT GLOB '*[^0-9a-f]*')),"
	" spool_until INTEGER NOT NULL DEFAULT 0 CHECK (spool_until >= 0),"
	" CHECK (state NOT IN ('stored', 'held', 'queued', 'forwarding',"
	"  'delivered') OR sha256 <> '')"
	") STRICT;"
	"INSERT INTO transfers_v4 SELECT id, user, dept, terminal, cert_fp,"
	" interface, name, purpose, size, class, state, received, sha256, error,"
	" created, updated, queued_at, attempts, next_attempt_at, last_error,"
	" destination, upstream_status, upstream_etag, upstream_version,"
	" upstream_bytes, upstream_duration_ms, upstream_spki, spool_until"
	" FROM transfers;"
	"DROP TABLE transfers;"
	"ALTER TABLE transfers_v4 RENAME TO transfers;"
	"CREATE INDEX transfers_state_updated ON transfers (state, updated);"
	"CREATE INDEX transfers_user ON transfers (user);"
	"CREATE INDEX transfers_spool_until ON transfers (spool_until)"
	" WHERE spool_until > 0;"
	"CREATE TABLE approval_requests ("
	" transfer TEXT PRIMARY KEY NOT NULL REFERENCES transfers (id),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" user TEXT NOT NULL CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" approvers TEXT NOT NULL"
	"  CHECK (length(CAST(approvers AS BLOB)) BETWEEN 1 AND 64),"
	" required INTEGER NOT NULL CHECK (required BETWEEN 1 AND 16),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" decided INTEGER NOT NULL DEFAULT 0,"
	" decided_by TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(decided_by AS BLOB)) <= 64),"
	" comment TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(comment AS BLOB)) <= 512),"
	" CHECK (state = 'pending' OR decided > 0)"
	") STRICT;"
	"CREATE INDEX approval_requests_state ON approval_requests "
	" (state, created);"
	"CREATE TABLE approval_votes ("
	" transfer TEXT NOT NULL REFERENCES approval_requests (transfer),"
	" officer TEXT NOT NULL"
	"  CHECK (length(CAST(officer AS BLOB)) BETWEEN 1 AND 64),"
	" cert_fp TEXT NOT NULL"
	"  CHECK (length(cert_fp) = 64 AND cert_fp NOT GLOB '*[^0-9a-f]*'),"
	" vote TEXT NOT NULL CHECK (vote IN ('approve', 'reject')),"
	" comment TEXT NOT NULL CHECK (length(CAST(comment AS BLOB)) <= 512),"
	" at INTEGER NOT NULL,"
	" PRIMARY KEY (transfer, officer)"
	") STRICT;"
	"CREATE TABLE exceptions ("
	" id TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(id) BETWEEN 4 AND 31 AND id GLOB 'EX-*'"
	"   AND substr(id, 4) NOT GLOB '*[^0-9a-f]*'),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('requested', 'active', 'refused', 'revoked')),"
	" emergency INTEGER NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" users TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(users AS BLOB)) <= 1040),"
	" groups TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(groups AS BLOB)) <= 1040),"
	" max_class INTEGER NOT NULL DEFAULT 0 CHECK (max_class BETWEEN 0 AND 2),"
	" max_size INTEGER NOT NULL DEFAULT 0 CHECK (max_size >= 0),"
	" hours_from INTEGER NOT NULL DEFAULT -1"
	"  CHECK (hours_from BETWEEN -1 AND 1439),"
	" hours_to INTEGER NOT NULL DEFAULT -1 CHECK (hours_to BETWEEN -1 AND 1440),"
	" max_count INTEGER NOT NULL DEFAULT 0 CHECK (max_count >= 0),"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" reason TEXT NOT NULL"
	"  CHECK (length(CAST(reason AS BLOB)) BETWEEN 1 AND 512),"
	" requester TEXT NOT NULL"
	"  CHECK (length(CAST(requester AS BLOB)) BETWEEN 1 AND 64),"
	" requested INTEGER NOT NULL,"
	" granted_by TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(granted_by AS BLOB)) <= 64),"
	" granted INTEGER NOT NULL DEFAULT 0,"
	" comment TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(comment AS BLOB)) <= 512),"
	" confirm_by INTEGER NOT NULL DEFAULT 0,"
	" confirmed_by TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(confirmed_by AS BLOB)) <= 64),"
	" confirmed INTEGER NOT NULL DEFAULT 0,"
	" ended_by TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(ended_by AS BLOB)) <= 64),"
	" ended INTEGER NOT NULL DEFAULT 0,"
	" end_reason TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(end_reason AS BLOB)) <= 512),"
	" CHECK (users <> '' OR groups <> ''),"
	" CHECK (not_after > not_before),"
	" CHECK (state IN ('requested', 'refused') OR granted_by <> ''),"
	" CHECK (state NOT IN ('refused', 'revoked') OR ended > 0),"
	" CHECK (emergency = 0 OR state = 'requested' OR confirm_by > 0)"
	") STRICT;"
	"CREATE INDEX exceptions_state ON exceptions (state, id);"
	"CREATE TABLE exception_uses ("
	" exception TEXT NOT NULL REFERENCES exceptions (id),"
	" transfer TEXT NOT NULL UNIQUE REFERENCES transfers (id),"
	" user TEXT NOT NULL CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" at INTEGER NOT NULL,"
	" PRIMARY KEY (exception, transfer)"
	") STRICT;",
	/* 5: the file extensions an exception adds ("pdf,xlsx"). */
	"ALTER TABLE exceptions ADD COLUMN extensions TEXT NOT NULL DEFAULT ''"
	" CHECK (length(CAST(extensions AS BLOB)) <= 256);",
	/* 6: the S3 multipart upload a transfer has open, if any. */
	"CREATE TABLE upstream_uploads ("
	" transfer TEXT PRIMARY KEY REFERENCES transfers (id),"
	" url TEXT NOT NULL CHECK (length(CAST(url AS BLOB)) BETWEEN 1 AND 2048),"
	" upload_id TEXT NOT NULL"
	"  CHECK (length(CAST(upload_id AS BLOB)) BETWEEN 1 AND 1024),"
	" created INTEGER NOT NULL"
	") STRICT;",
	/* 7: the comment of the officer who confirmed an emergency grant. */
	"ALTER TABLE exceptions ADD COLUMN confirm_comment TEXT NOT NULL "
	"DEFAULT '' CHECK (length(CAST(confirm_comment AS BLOB)) <= 512);",
	/* 8: one-time TOTP enrolment codes (broker/enrolcode.h): only their
	 * MAC, and the failures of their owner's attempts. A row may outlive
	 * its code (mac NULL) to keep counting failures. */
	"CREATE TABLE totp_enrol_codes ("
	" user TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" mac BLOB CHECK (mac IS NULL OR length(mac) = 32),"
	" issued INTEGER NOT NULL DEFAULT 0 CHECK (issued >= 0),"
	" expires INTEGER NOT NULL DEFAULT 0 CHECK (expires >= 0),"
	" used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),"
	" force INTEGER NOT NULL DEFAULT 0 CHECK (force IN (0, 1)),"
	" failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
	" locked_until INTEGER NOT NULL DEFAULT 0 CHECK (locked_until >= 0),"
	" lock_count INTEGER NOT NULL DEFAULT 0 CHECK (lock_count >= 0)"
	") STRICT;",
	/* 9: the owner may withdraw a held or partial transfer: state
	 * "withdrawn" for transfers and their approval requests. Both tables
	 * are rebuilt (SQLite cannot change a CHECK in place); foreign keys
	 * are off while migrations run and checked before each commit. The
	 * user index gains (created, id) for the owner's newest-first list. */
	"CREATE TABLE transfers_v8 ("
	" id TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	" user TEXT NOT NULL"
	"  CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" dept TEXT NOT NULL CHECK (length(CAST(dept AS BLOB)) <= 64),"
	" terminal TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(terminal AS BLOB)) <= 64),"
	" cert_fp TEXT NOT NULL"
	"  CHECK (length(cert_fp) = 64 AND cert_fp NOT GLOB '*[^0-9a-f]*'),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) <= 1024),"
	" purpose TEXT NOT NULL CHECK (length(CAST(purpose AS BLOB)) <= 512),"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" class INTEGER NOT NULL CHECK (class BETWEEN 1 AND 3),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('receiving', 'stored', 'held', 'rejected',"
	"   'queued', 'forwarding', 'delivered', 'failed', 'expired',"
	"   'withdrawn')),"
	" received INTEGER NOT NULL DEFAULT 0"
	"  CHECK (received >= 0 AND received <= size),"
	" sha256 TEXT NOT NULL DEFAULT ''"
	"  CHECK (sha256 = '' OR (length(sha256) = 64"
	"   AND sha256 NOT GLOB '*[^0-9a-f]*')),"
	" error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(error AS BLOB)) < 256),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" queued_at INTEGER NOT NULL DEFAULT 0 CHECK (queued_at >= 0),"
	" attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 1000000),"
	" next_attempt_at INTEGER NOT NULL DEFAULT 0 CHECK (next_attempt_at >= 0),"
	" last_error TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(last_error AS BLOB)) < 256),"
	" destination TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(destination AS BLOB)) <= 2048),"
	" upstream_status INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_status BETWEEN 0 AND 999),"
	" upstream_etag TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_etag AS BLOB)) <= 128),"
	" upstream_version TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(upstream_version AS BLOB)) <= 128),"
	" upstream_bytes INTEGER NOT NULL DEFAULT 0 CHECK (upstream_bytes >= 0),"
	" upstream_duration_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (upstream_duration_ms >= 0),"
	" upstream_spki TEXT NOT NULL DEFAULT ''"
	"  CHECK (upstream_spki = '' OR (length(upstream_spki) = 64"
	"   AND upstream_spki NOT GLOB '*[^0-9a-f]*')),"
	" spool_until INTEGER NOT NULL DEFAULT 0 CHECK (spool_until >= 0),"
	" CHECK (state NOT IN ('stored', 'held', 'queued', 'forwarding',"
	"  'delivered') OR sha256 <> '')"
	") STRICT;"
	"INSERT INTO transfers_v8 SELECT id, user, dept, terminal, cert_fp,"
	" interface, name, purpose, size, class, state, received, sha256, error,"
	" created, updated, queued_at, attempts, next_attempt_at, last_error,"
	" destination, upstream_status, upstream_etag, upstream_version,"
	" upstream_bytes, upstream_duration_ms, upstream_spki, spool_until"
	" FROM transfers;"
	"DROP TABLE transfers;"
	"ALTER TABLE transfers_v8 RENAME TO transfers;"
	"CREATE INDEX transfers_state_updated ON transfers (state, updated);"
	"CREATE INDEX transfers_user ON transfers (user, created, id);"
	"CREATE INDEX transfers_spool_until ON transfers (spool_until)"
	" WHERE spool_until > 0;"
	"CREATE TABLE approval_requests_v8 ("
	" transfer TEXT PRIMARY KEY NOT NULL REFERENCES transfers (id),"
	" interface TEXT NOT NULL"
	"  CHECK (length(CAST(interface AS BLOB)) BETWEEN 1 AND 64),"
	" user TEXT NOT NULL CHECK (length(CAST(user AS BLOB)) BETWEEN 1 AND 64),"
	" approvers TEXT NOT NULL"
	"  CHECK (length(CAST(approvers AS BLOB)) BETWEEN 1 AND 64),"
	" required INTEGER NOT NULL CHECK (required BETWEEN 1 AND 16),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('pending', 'approved', 'rejected', 'expired',"
	"   'withdrawn')),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" decided INTEGER NOT NULL DEFAULT 0,"
	" decided_by TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(decided_by AS BLOB)) <= 64),"
	" comment TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(comment AS BLOB)) <= 512),"
	" CHECK (state = 'pending' OR decided > 0)"
	") STRICT;"
	"INSERT INTO approval_requests_v8 SELECT transfer, interface, user,"
	" approvers, required, state, created, expires, decided, decided_by,"
	" comment FROM approval_requests;"
	"DROP TABLE approval_requests;"
	"ALTER TABLE approval_requests_v8 RENAME TO approval_requests;"
	"CREATE INDEX approval_requests_state ON approval_requests "
	" (state, created);",
	/* 10: register versions that go through two-person approval
	 * (regstore.h): each text once, by its SHA-256; the votes on it,
	 * one per person; and which version is in force (one row). */
	"CREATE TABLE register_versions ("
	" sha256 TEXT PRIMARY KEY NOT NULL"
	"  CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
	" yaml BLOB NOT NULL CHECK (length(yaml) BETWEEN 1 AND 1048576),"
	" proposer TEXT NOT NULL"
	"  CHECK (length(CAST(proposer AS BLOB)) BETWEEN 1 AND 64),"
	" reason TEXT NOT NULL"
	"  CHECK (length(CAST(reason AS BLOB)) BETWEEN 1 AND 512),"
	" emergency INTEGER NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),"
	" state TEXT NOT NULL"
	"  CHECK (state IN ('proposed', 'active', 'superseded', 'rejected',"
	"   'expired', 'emergency')),"
	" base TEXT NOT NULL DEFAULT ''"
	"  CHECK (base = '' OR (length(base) = 64"
	"   AND base NOT GLOB '*[^0-9a-f]*')),"
	" summary TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(CAST(summary AS BLOB)) <= 65536),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL DEFAULT 0 CHECK (expires >= 0),"
	" activated INTEGER NOT NULL DEFAULT 0 CHECK (activated >= 0),"
	" previous TEXT NOT NULL DEFAULT ''"
	"  CHECK (previous = '' OR (length(previous) = 64"
	"   AND previous NOT GLOB '*[^0-9a-f]*')),"
	" confirm_by INTEGER NOT NULL DEFAULT 0 CHECK (confirm_by >= 0),"
	" decided INTEGER NOT NULL DEFAULT 0 CHECK (decided >= 0),"
	" CHECK (state <> 'emergency' OR (emergency = 1 AND confirm_by > 0))"
	") STRICT;"
	"CREATE INDEX register_versions_state ON register_versions "
	" (state, created);"
	"CREATE TABLE register_votes ("
	" version TEXT NOT NULL REFERENCES register_versions (sha256),"
	" approver TEXT NOT NULL"
	"  CHECK (length(CAST(approver AS BLOB)) BETWEEN 1 AND 64),"
	" vote TEXT NOT NULL CHECK (vote IN ('approve', 'reject')),"
	" comment TEXT NOT NULL CHECK (length(CAST(comment AS BLOB)) <= 512),"
	" at INTEGER NOT NULL,"
	" PRIMARY KEY (version, approver)"
	") STRICT;"
	"CREATE TABLE register_active ("
	" id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),"
	" version TEXT NOT NULL REFERENCES register_versions (sha256),"
	" since INTEGER NOT NULL"
	") STRICT;",
};
#define STORE_NMIGRATIONS \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))
_Static_assert(STORE_NMIGRATIONS == STORE_SCHEMA_VERSION,
    "STORE_SCHEMA_VERSION in store.h names the newest migration");

#define TRANSFER_COLUMNS TRANSFER_COLUMNS_V1
/* What a read returns: the columns above, then the delivery columns. */
#define TRANSFER_SELECT TRANSFER_COLUMNS ", queued_at, attempts, " \
	"next_attempt_at, last_error, destination, upstream_status, " \
	"upstream_etag, upstream_version, upstream_bytes, " \
	"upstream_duration_ms, upstream_spki, spool_until"

#define AP_COLUMNS \
	"transfer, interface, user, approvers, required, state, created, " \
	"expires, decided, decided_by, comment"
#define AP_COUNT \
	"(SELECT count(*) FROM approval_votes v WHERE v.transfer = a.transfer " \
	"AND v.vote = 'approve')"
#define EX_COLUMNS \
	"id, state, emergency, interface, users, groups, max_class, max_size, " \
	"hours_from, hours_to, max_count, not_before, not_after, reason, " \
	"requester, requested, granted_by, granted, comment, confirm_by, " \
	"confirmed_by, confirmed, ended_by, ended, end_reason, extensions, " \
	"confirm_comment"
#define EX_COUNT \
	"(SELECT count(*) FROM exception_uses u WHERE u.exception = e.id)"

enum store_stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_INSERT,
	S_GET,
	S_PROGRESS,
	S_SET_STATE,
	S_EACH,
	S_QUEUE,
	S_ATTEMPT,
	S_ATTEMPT_END,
	S_SPOOL_RELEASED,
	S_SPOOL_DUE,
	S_TOTP_GET,
	S_TOTP_PUT,
	S_TOTP_UPDATE,
	S_TOTP_DELETE,
	S_TOTP_EVENT_ADD,
	S_TOTP_EVENT_LIST,
	S_TOTP_EVENT_DELETE,
	S_AP_INSERT,
	S_AP_GET,
	S_AP_CLOSE,
	S_AP_EACH,
	S_VOTE_INSERT,
	S_VOTE_LIST,
	S_EX_INSERT,
	S_EX_GET,
	S_EX_UPDATE,
	S_EX_EACH,
	S_EX_USE,
	S_EX_OF,
	S_USAGE,
	S_UPLOAD_SET,
	S_UPLOAD_FORGET,
	S_UPLOAD_GET,
	S_COUNT_STATES,
	S_ENROL_GET,
	S_ENROL_PUT,
	S_LIST_OWN,
	S_WITHDRAW,
	S_COUNT
};

static const char *const store_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT job",
	[S_RELEASE] = "RELEASE job",
	[S_ROLLBACK_TO] = "ROLLBACK TO job",
	[S_INSERT] = "INSERT INTO transfers (" TRANSFER_COLUMNS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	    "?15, ?16)",
	[S_GET] = "SELECT " TRANSFER_SELECT " FROM transfers WHERE id = ?1",
	/* Daily limits: what this user started through this interface since
	 * the start of the day; refused and abandoned transfers do not
	 * count, transfers still arriving do. */
	[S_USAGE] = "SELECT count(*), coalesce(sum(size), 0) FROM transfers "
	    "WHERE user = ?1 AND interface = ?2 AND created >= ?3 AND "
	    "state NOT IN ('failed', 'expired', 'rejected', 'withdrawn')",
	[S_PROGRESS] = "UPDATE transfers SET received = ?2, updated = ?3 "
	    "WHERE id = ?1 AND state = 'receiving'",
	[S_SET_STATE] = "UPDATE transfers SET state = ?2, "
	    "sha256 = coalesce(?3, sha256), error = coalesce(?4, error), "
	    "updated = ?5 WHERE id = ?1",
	/* Keyset pagination: (created, id) after the last row seen. */
	[S_EACH] = "SELECT " TRANSFER_SELECT " FROM transfers "
	    "WHERE state = ?1 AND (?2 = 0 OR updated < ?2) "
	    "AND (created > ?3 OR (created = ?3 AND id > ?4)) "
	    "ORDER BY created, id LIMIT ?5",
	[S_QUEUE] = "UPDATE transfers SET state = 'queued', "
	    "queued_at = CASE WHEN queued_at = 0 THEN ?2 ELSE queued_at END, "
	    "updated = ?2 WHERE id = ?1 AND state IN ('stored', 'queued')",
	[S_ATTEMPT] = "UPDATE transfers SET state = 'forwarding', "
	    "attempts = attempts + 1, destination = ?2, next_attempt_at = 0, "
	    "updated = ?3 WHERE id = ?1 AND state IN ('queued', 'forwarding')",
	[S_ATTEMPT_END] = "UPDATE transfers SET state = ?2, "
	    "next_attempt_at = ?3, last_error = coalesce(?4, last_error), "
	    "error = coalesce(?5, error), upstream_status = ?6, "
	    "upstream_etag = ?7, upstream_version = ?8, upstream_bytes = ?9, "
	    "upstream_duration_ms = ?10, upstream_spki = ?11, "
	    "spool_until = ?12, updated = ?13 "
	    "WHERE id = ?1 AND state IN ('queued', 'forwarding')",
	[S_SPOOL_RELEASED] = "UPDATE transfers SET spool_until = 0 "
	    "WHERE id = ?1",
	[S_SPOOL_DUE] = "SELECT id, spool_until FROM transfers "
	    "WHERE spool_until > 0 AND spool_until <= ?1 "
	    "AND (spool_until > ?2 OR (spool_until = ?2 AND id > ?3)) "
	    "ORDER BY spool_until, id LIMIT ?4",
	[S_TOTP_GET] = "SELECT user, secret_ct, nonce, state, last_step, "
	    "failures, locked_until, lock_count, created, activated "
	    "FROM totp WHERE user = ?1",
	[S_TOTP_PUT] = "INSERT OR REPLACE INTO totp (user, secret_ct, nonce, "
	    "state, last_step, failures, locked_until, lock_count, created, "
	    "activated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_TOTP_UPDATE] = "UPDATE totp SET state = ?2, last_step = ?3, "
	    "failures = ?4, locked_until = ?5, lock_count = ?6, activated = ?7 "
	    "WHERE user = ?1 AND nonce = ?8 AND last_step = ?9",
	[S_TOTP_DELETE] = "DELETE FROM totp WHERE user = ?1",
	[S_TOTP_EVENT_ADD] = "INSERT INTO totp_audit (time, type, user, actor, "
	    "detail) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_TOTP_EVENT_LIST] = "SELECT id, time, type, user, actor, detail "
	    "FROM totp_audit ORDER BY id LIMIT ?1",
	[S_TOTP_EVENT_DELETE] = "DELETE FROM totp_audit WHERE id = ?1",
	[S_AP_INSERT] = "INSERT INTO approval_requests (" AP_COLUMNS ") "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_AP_GET] = "SELECT " AP_COLUMNS ", " AP_COUNT " FROM "
	    "approval_requests a WHERE transfer = ?1",
	[S_AP_CLOSE] = "UPDATE approval_requests SET state = ?2, "
	    "decided_by = ?3, comment = ?4, decided = ?5 "
	    "WHERE transfer = ?1 AND state = 'pending'",
	[S_AP_EACH] = "SELECT " AP_COLUMNS ", " AP_COUNT " FROM "
	    "approval_requests a WHERE (?1 IS NULL OR state = ?1) "
	    "AND (?2 = 0 OR expires < ?2) "
	    "AND (created > ?3 OR (created = ?3 AND transfer > ?4)) "
	    "ORDER BY created, transfer LIMIT ?5",
	[S_VOTE_INSERT] = "INSERT INTO approval_votes (transfer, officer, "
	    "cert_fp, vote, comment, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_VOTE_LIST] = "SELECT transfer, officer, cert_fp, vote, comment, at "
	    "FROM approval_votes WHERE transfer = ?1 ORDER BY at, officer "
	    "LIMIT ?2",
	[S_EX_INSERT] = "INSERT INTO exceptions (" EX_COLUMNS ") VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	    "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
	[S_EX_GET] = "SELECT " EX_COLUMNS ", " EX_COUNT " FROM exceptions e "
	    "WHERE id = ?1",
	[S_EX_UPDATE] = "UPDATE exceptions SET state = ?2, emergency = ?3, "
	    "interface = ?4, users = ?5, groups = ?6, max_class = ?7, "
	    "max_size = ?8, hours_from = ?9, hours_to = ?10, max_count = ?11, "
	    "not_before = ?12, not_after = ?13, reason = ?14, "
	    "granted_by = ?17, granted = ?18, comment = ?19, "
	    "confirm_by = ?20, confirmed_by = ?21, confirmed = ?22, "
	    "ended_by = ?23, ended = ?24, end_reason = ?25, extensions = ?26, "
	    "confirm_comment = ?27 WHERE id = ?1 AND state = ?28",
	[S_EX_EACH] = "SELECT " EX_COLUMNS ", " EX_COUNT " FROM exceptions e "
	    "WHERE (?1 IS NULL OR state = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
	[S_EX_USE] = "INSERT INTO exception_uses (exception, transfer, user, "
	    "at) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (exception, transfer) DO NOTHING",
	[S_EX_OF] = "SELECT exception FROM exception_uses WHERE transfer = ?1",
	[S_UPLOAD_SET] = "INSERT OR REPLACE INTO upstream_uploads (transfer, "
	    "url, upload_id, created) VALUES (?1, ?2, ?3, ?4)",
	[S_UPLOAD_FORGET] = "DELETE FROM upstream_uploads WHERE transfer = ?1 "
	    "AND (?2 IS NULL OR upload_id = ?2)",
	[S_UPLOAD_GET] = "SELECT url, upload_id FROM upstream_uploads "
	    "WHERE transfer = ?1",
	[S_COUNT_STATES] = "SELECT state, count(*) FROM transfers "
	    "GROUP BY state ORDER BY state",
	[S_ENROL_GET] = "SELECT mac, issued, expires, used, force, failures, "
	    "locked_until, lock_count FROM totp_enrol_codes WHERE user = ?1",
	[S_ENROL_PUT] = "INSERT OR REPLACE INTO totp_enrol_codes (user, mac, "
	    "issued, expires, used, force, failures, locked_until, lock_count) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	/* The owner's list, newest first; keyset (created, id) before the
	 * last row seen (?2 = INT64_MAX to start). */
	[S_LIST_OWN] = "SELECT " TRANSFER_SELECT " FROM transfers "
	    "WHERE user = ?1 AND (created < ?2 OR (created = ?2 AND id < ?3)) "
	    "ORDER BY created DESC, id DESC LIMIT ?4",
	/* Compare-and-set: only from a state the owner may withdraw. */
	[S_WITHDRAW] = "UPDATE transfers SET state = 'withdrawn', error = ?3, "
	    "updated = ?4 WHERE id = ?1 AND user = ?2 "
	    "AND state IN ('receiving', 'held')",
};

struct store {
	sqlite3 *db;
	int version;
	sqlite3_stmt *stmt[S_COUNT];
};

static int
store_fail(struct store *st, char *err, size_t errlen, const char *what)
{
	return util_err(err, errlen, "store: %s: %s", what,
	    st->db != NULL ? sqlite3_errmsg(st->db) : "no database");
}

/* Leaves a statement idle with no bindings: the only way it is ever left. */
static void
store_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows. */
static int
store_run(struct store *st, enum store_stmt which)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc;

	rc = sqlite3_step(s);
	store_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Creates the file 0600 before SQLite sees it; SQLite gives the -wal and
 * -shm files the same mode as the database. */
static int
store_prepare_file(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd, e;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		e = errno;
		util_err(err, errlen, "store: open %s: %s", path,
		    e == ELOOP ? "is a symbolic link" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		e = errno;
		close(fd);
		util_err(err, errlen, "store: stat %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return util_err(err, errlen, "store: %s is not a regular file",
		    path);
	}
	if (sb.st_uid != geteuid()) {
		close(fd);
		return util_err(err, errlen, "store: %s is owned by uid %lu, "
		    "not by this process", path, (unsigned long)sb.st_uid);
	}
	if ((sb.st_mode & 077) != 0 && fchmod(fd, 0600) == -1) {
		e = errno;
		close(fd);
		util_err(err, errlen, "store: chmod 0600 %s: %s", path,
		    strerror(e));
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static int
store_exec(struct store *st, const char *sql, char *err, size_t errlen,
    const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		util_err(err, errlen, "store: %s: %s", what,
		    msg != NULL ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
store_pragmas(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	const unsigned char *mode;
	int ok, on = 0;

	if (sqlite3_busy_timeout(st->db, STORE_BUSY_MS) != SQLITE_OK)
		return store_fail(st, err, errlen, "busy_timeout");
	/* Defensive: no writable_schema tricks, no functions from the schema. */
	if (sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) !=
	    SQLITE_OK || sqlite3_db_config(st->db,
	    SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &on) != SQLITE_OK)
		return store_fail(st, err, errlen, "db_config");

	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, "journal_mode");
	ok = sqlite3_step(s) == SQLITE_ROW &&
	    (mode = sqlite3_column_text(s, 0)) != NULL &&
	    strcmp((const char *)mode, "wal") == 0;
	sqlite3_finalize(s);
	if (!ok)
		return util_err(err, errlen, "store: the database could not "
		    "be switched to WAL mode");

	if (store_exec(st, "PRAGMA synchronous = FULL", err, errlen,
	    "synchronous") == -1 ||
	    store_exec(st, "PRAGMA foreign_keys = ON", err, errlen,
	    "foreign_keys") == -1)
		return -1;
	return 0;
}

/* Reads the applied version; -1 if the table is not a gap-free 1..N. */
static int
store_read_version(struct store *st, int *version, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	sqlite3_int64 n, max, min;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT count(*), "
	    "coalesce(max(version), 0), coalesce(min(version), 1) "
	    "FROM schema_version", -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, "reading schema_version");
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return store_fail(st, err, errlen, "reading schema_version");
	}
	n = sqlite3_column_int64(s, 0);
	max = sqlite3_column_int64(s, 1);
	min = sqlite3_column_int64(s, 2);
	sqlite3_finalize(s);
	if (n != max || min != 1 || max > 1000000)
		return util_err(err, errlen, "store: schema_version is not a "
		    "sequence 1..N (%lld rows, highest %lld); refusing the "
		    "database", (long long)n, (long long)max);
	*version = (int)max;
	return 0;
}

/* -1 when any row refers to a row that does not exist. */
static int
store_fk_check(struct store *st, const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s,
	    NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, what);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return util_err(err, errlen, "store: %s: a row refers to a "
		    "missing row (foreign key); refusing the database", what);
	if (rc != SQLITE_DONE)
		return store_fail(st, err, errlen, what);
	return 0;
}

static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *ins = NULL;
	char what[64];
	int v, version;

	if (store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version ("
	    " version INTEGER PRIMARY KEY NOT NULL,"
	    " applied INTEGER NOT NULL) STRICT", err, errlen,
	    "creating schema_version") == -1)
		return -1;
	if (store_read_version(st, &version, err, errlen) == -1)
		return -1;
	if (version > STORE_NMIGRATIONS)
		return util_err(err, errlen, "store: database schema version "
		    "%d is newer than this sekishod knows (%d); refusing to "
		    "open it", version, STORE_NMIGRATIONS);
	if (version == STORE_NMIGRATIONS) {
		st->version = version;
		return 0;
	}
	if (sqlite3_prepare_v2(st->db, "INSERT INTO schema_version "
	    "(version, applied) VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, "preparing migrations");

	/* Rebuilding a table others refer to (migration 9) needs foreign
	 * keys off, which only takes effect outside a transaction; each
	 * migration checks them itself before it commits. */
	if (store_exec(st, "PRAGMA foreign_keys = OFF", err, errlen,
	    "foreign_keys") == -1)
		goto fail;
	for (v = 1; v <= STORE_NMIGRATIONS; v++) {
		snprintf(what, sizeof(what), "migration %d", v);
		if (store_exec(st, "BEGIN IMMEDIATE", err, errlen, what) == -1)
			goto fail;
		/* Another process may have migrated while we waited. */
		if (store_read_version(st, &version, err, errlen) == -1)
			goto rollback;
		if (version >= v) {
			if (store_exec(st, "COMMIT", err, errlen, what) == -1)
				goto rollback;
			continue;
		}
		if (store_exec(st, store_migrations[v - 1], err, errlen,
		    what) == -1)
			goto rollback;
		sqlite3_bind_int(ins, 1, v);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)time(NULL));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			store_fail(st, err, errlen, what);
			store_done(ins);
			goto rollback;
		}
		store_done(ins);
		if (store_fk_check(st, what, err, errlen) == -1 ||
		    store_exec(st, "COMMIT", err, errlen, what) == -1)
			goto rollback;
	}
	sqlite3_finalize(ins);
	if (store_exec(st, "PRAGMA foreign_keys = ON", err, errlen,
	    "foreign_keys") == -1)
		return -1;
	st->version = STORE_NMIGRATIONS;
	return 0;

rollback:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
fail:
	sqlite3_finalize(ins);
	sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return -1;
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	int i;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return util_err(err, errlen, "store: no database path given");
	if (store_prepare_file(path, err, errlen) == -1)
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return util_err(err, errlen, "store: out of memory");
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE, NULL) != SQLITE_OK) {
		util_err(err, errlen, "store: open %s: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	if (store_pragmas(st, err, errlen) == -1 ||
	    store_migrate(st, err, errlen) == -1)
		goto fail;
	for (i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) !=
		    SQLITE_OK) {
			store_fail(st, err, errlen, "preparing statements");
			goto fail;
		}
	}
	*out = st;
	return 0;

fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

sqlite3 *
store_sqlite(struct store *st)
{
	return st->db;
}

int
store_schema_version(struct store *st)
{
	return st->version;
}

int
store_begin(struct store *st, char *err, size_t errlen)
{
	if (store_run(st, S_BEGIN) == -1)
		return store_fail(st, err, errlen, "begin");
	return 0;
}

int
store_commit(struct store *st, char *err, size_t errlen)
{
	if (store_run(st, S_COMMIT) == -1)
		return store_fail(st, err, errlen, "commit");
	return 0;
}

int
store_rollback(struct store *st)
{
	if (sqlite3_get_autocommit(st->db))
		return 0;	/* nothing open (SQLite may have rolled back) */
	return store_run(st, S_ROLLBACK);
}

int
store_savepoint(struct store *st, char *err, size_t errlen)
{
	if (store_run(st, S_SAVEPOINT) == -1)
		return store_fail(st, err, errlen, "savepoint");
	return 0;
}

int
store_release(struct store *st, char *err, size_t errlen)
{
	if (store_run(st, S_RELEASE) == -1)
		return store_fail(st, err, errlen, "release savepoint");
	return 0;
}

int
store_rollback_to(struct store *st)
{
	/* ROLLBACK TO keeps the savepoint open; RELEASE then pops it. */
	if (store_run(st, S_ROLLBACK_TO) == -1)
		return -1;
	return store_run(st, S_RELEASE);
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int
store_transfer_insert(struct store *st, const struct transfer *t,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_INSERT];
	int rc = SQLITE_OK;

	if (t->size > (uint64_t)INT64_MAX || t->received > (uint64_t)INT64_MAX)
		return util_err(err, errlen, "store: insert %s: size out of "
		    "range", t->id);
	if (rc == SQLITE_OK) rc = bind_text(s, 1, t->id);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, t->user);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, t->dept);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, t->terminal);
	if (rc == SQLITE_OK) rc = bind_text(s, 5, t->cert_fp);
	if (rc == SQLITE_OK) rc = bind_text(s, 6, t->interface);
	if (rc == SQLITE_OK) rc = bind_text(s, 7, t->name);
	if (rc == SQLITE_OK) rc = bind_text(s, 8, t->purpose);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 9, (sqlite3_int64)t->size);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 10, (sqlite3_int64)t->class);
	if (rc == SQLITE_OK) rc = bind_text(s, 11, t->state);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 12, (sqlite3_int64)t->received);
	if (rc == SQLITE_OK) rc = bind_text(s, 13, t->sha256);
	if (rc == SQLITE_OK) rc = bind_text(s, 14, t->error);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 15, t->created);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 16, t->updated);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK)
		store_fail(st, err, errlen, "insert transfer");
	store_done(s);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Copies a text column into a fixed field; -1 if it is NULL or too long. */
static int
col_text(sqlite3_stmt *s, int i, char *dst, size_t dstlen)
{
	const unsigned char *v = sqlite3_column_text(s, i);
	int n = sqlite3_column_bytes(s, i);

	if (v == NULL || n < 0 || (size_t)n >= dstlen ||
	    memchr(v, '\0', (size_t)n) != NULL)
		return -1;
	memcpy(dst, v, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* The delivery columns of a TRANSFER_SELECT row, from column i on. */
static int
store_row_delivery(sqlite3_stmt *s, int i, struct transfer *t)
{
	sqlite3_int64 attempts, status, bytes, ms;

	if (col_text(s, i + 3, t->last_error, sizeof(t->last_error)) == -1 ||
	    col_text(s, i + 4, t->destination, sizeof(t->destination)) == -1 ||
	    col_text(s, i + 6, t->upstream_etag,
	    sizeof(t->upstream_etag)) == -1 ||
	    col_text(s, i + 7, t->upstream_version,
	    sizeof(t->upstream_version)) == -1 ||
	    col_text(s, i + 10, t->upstream_spki,
	    sizeof(t->upstream_spki)) == -1)
		return -1;
	t->queued_at = sqlite3_column_int64(s, i);
	attempts = sqlite3_column_int64(s, i + 1);
	t->next_attempt_at = sqlite3_column_int64(s, i + 2);
	status = sqlite3_column_int64(s, i + 5);
	bytes = sqlite3_column_int64(s, i + 8);
	ms = sqlite3_column_int64(s, i + 9);
	t->spool_until = sqlite3_column_int64(s, i + 11);
	if (attempts < 0 || attempts > 1000000 || status < 0 || status > 999 ||
	    bytes < 0 || ms < 0)
		return -1;
	t->attempts = (unsigned)attempts;
	t->upstream_status = (unsigned)status;
	t->upstream_bytes = (uint64_t)bytes;
	t->upstream_duration_ms = (uint64_t)ms;
	return 0;
}

/* Fills t from the current row of a TRANSFER_SELECT select. */
static int
store_row(sqlite3_stmt *s, struct transfer *t)
{
	sqlite3_int64 size, class, received;

	memset(t, 0, sizeof(*t));
	if (col_text(s, 0, t->id, sizeof(t->id)) == -1 ||
	    col_text(s, 1, t->user, sizeof(t->user)) == -1 ||
	    col_text(s, 2, t->dept, sizeof(t->dept)) == -1 ||
	    col_text(s, 3, t->terminal, sizeof(t->terminal)) == -1 ||
	    col_text(s, 4, t->cert_fp, sizeof(t->cert_fp)) == -1 ||
	    col_text(s, 5, t->interface, sizeof(t->interface)) == -1 ||
	    col_text(s, 6, t->name, sizeof(t->name)) == -1 ||
	    col_text(s, 7, t->purpose, sizeof(t->purpose)) == -1 ||
	    col_text(s, 10, t->state, sizeof(t->state)) == -1 ||
	    col_text(s, 12, t->sha256, sizeof(t->sha256)) == -1 ||
	    col_text(s, 13, t->error, sizeof(t->error)) == -1)
		return -1;
	size = sqlite3_column_int64(s, 8);
	class = sqlite3_column_int64(s, 9);
	received = sqlite3_column_int64(s, 11);
	if (size < 0 || received < 0 || class < 1 || class > 3)
		return -1;
	t->size = (uint64_t)size;
	t->class = (unsigned)class;
	t->received = (uint64_t)received;
	t->created = sqlite3_column_int64(s, 14);
	t->updated = sqlite3_column_int64(s, 15);
	return store_row_delivery(s, 16, t);
}

int
store_transfer_get(struct store *st, const char *id, struct transfer *out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_GET];
	int rc, ret;

	if (bind_text(s, 1, id) != SQLITE_OK) {
		store_done(s);
		return store_fail(st, err, errlen, "get transfer");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ret = store_row(s, out);
		if (ret == -1)
			util_err(err, errlen, "store: transfer %s: a column "
			    "does not fit its field", id);
	} else if (rc == SQLITE_DONE) {
		util_err(err, errlen, "store: no transfer %s", id);
		ret = STORE_NOTFOUND;
	} else
		ret = store_fail(st, err, errlen, "get transfer");
	store_done(s);
	return ret;
}

int
store_transfer_usage(struct store *st, const char *user,
    const char *interface, int64_t since, uint64_t *bytes, uint64_t *count,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_USAGE];
	int ret = -1;

	if (bind_text(s, 1, user) == SQLITE_OK &&
	    bind_text(s, 2, interface) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 3, since) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		sqlite3_int64 n = sqlite3_column_int64(s, 0);
		sqlite3_int64 b = sqlite3_column_int64(s, 1);

		*count = n > 0 ? (uint64_t)n : 0;
		*bytes = b > 0 ? (uint64_t)b : 0;
		ret = 0;
	} else
		ret = store_fail(st, err, errlen, "daily usage");
	store_done(s);
	return ret;
}

/* Runs a bound UPDATE; STORE_NOTFOUND when it matched no row. */
static int
store_update(struct store *st, sqlite3_stmt *s, int rc, const char *id,
    const char *what, char *err, size_t errlen)
{
	int ret;

	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_DONE) {
		if (sqlite3_changes(st->db) == 0) {
			util_err(err, errlen, "store: %s: no such transfer %s",
			    what, id);
			ret = STORE_NOTFOUND;
		} else
			ret = 0;
	} else
		ret = store_fail(st, err, errlen, what);
	store_done(s);
	return ret;
}

int
store_transfer_progress(struct store *st, const char *id,
    uint64_t received, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_PROGRESS];
	int rc;

	if (received > (uint64_t)INT64_MAX)
		return util_err(err, errlen, "store: progress %s: offset out "
		    "of range", id);
	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)received);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, now);
	return store_update(st, s, rc, id, "progress of a receiving transfer",
	    err, errlen);
}

int
store_transfer_set_state(struct store *st, const char *id,
    const char *state, const char *sha256, const char *error, int64_t now,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_SET_STATE];
	int rc;

	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, state);
	if (rc == SQLITE_OK)
		rc = sha256 != NULL ? bind_text(s, 3, sha256) :
		    sqlite3_bind_null(s, 3);
	if (rc == SQLITE_OK)
		rc = error != NULL ? bind_text(s, 4, error) :
		    sqlite3_bind_null(s, 4);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 5, now);
	return store_update(st, s, rc, id, "set state", err, errlen);
}

/*
 * Reads a page of rows, resets the statement, then calls fn for each row.
 * fn may therefore use the store itself (change the row's state, look up
 * another transfer, even start another store_transfer_each).
 */
int
store_transfer_each(struct store *st, const char *state, int64_t before,
    int (*fn)(const struct transfer *t, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EACH];
	struct transfer *page;
	sqlite3_int64 last_created = INT64_MIN;
	char last_id[UTIL_ID_LEN + 1] = "";
	int n, i, rc, ret = 0;

	if (state == NULL)
		return util_err(err, errlen, "store: each: no state given");
	if ((page = calloc(STORE_EACH_PAGE, sizeof(*page))) == NULL)
		return util_err(err, errlen, "store: out of memory");
	for (;;) {
		rc = bind_text(s, 1, state);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 2, before);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, last_created);
		if (rc == SQLITE_OK)
			rc = bind_text(s, 4, last_id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(s, 5, STORE_EACH_PAGE);
		n = 0;
		while (rc == SQLITE_OK && n < STORE_EACH_PAGE &&
		    (rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (store_row(s, &page[n]) == -1) {
				store_done(s);
				util_err(err, errlen, "store: each: a column "
				    "does not fit its field");
				ret = -1;
				goto out;
			}
			n++;
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK && rc != SQLITE_DONE) {
			store_fail(st, err, errlen, "each");
			store_done(s);
			ret = -1;
			goto out;
		}
		store_done(s);
		for (i = 0; i < n; i++) {
			if ((ret = fn(&page[i], arg)) != 0) {
				ret = 0;	/* an early stop is not an error */
				goto out;
			}
		}
		if (n < STORE_EACH_PAGE)
			break;
		last_created = page[n - 1].created;
		memcpy(last_id, page[n - 1].id, sizeof(last_id));
	}
out:
	free(page);
	return ret;
}

/* ---- delivery (migration 2) -------------------------------------------- */

int
store_transfer_queue(struct store *st, const char *id, int64_t now,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_QUEUE];
	int rc;

	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, now);
	return store_update(st, s, rc, id, "queue a stored transfer", err,
	    errlen);
}

int
store_transfer_attempt(struct store *st, const char *id,
    const char *destination, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_ATTEMPT];
	int rc;

	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, destination != NULL ? destination : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, now);
	return store_update(st, s, rc, id, "start a delivery attempt", err,
	    errlen);
}

static int
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	return v != NULL ? bind_text(s, i, v) : sqlite3_bind_null(s, i);
}

int
store_transfer_attempt_end(struct store *st, const char *id,
    const char *state, const struct store_upstream *u,
    int64_t next_attempt_at, const char *last_error, const char *error,
    int64_t spool_until, int64_t now, char *err, size_t errlen)
{
	static const struct store_upstream none;
	sqlite3_stmt *s = st->stmt[S_ATTEMPT_END];
	int rc;

	if (u == NULL)
		u = &none;
	if (u->bytes > (uint64_t)INT64_MAX ||
	    u->duration_ms > (uint64_t)INT64_MAX)
		return util_err(err, errlen, "store: attempt end %s: value "
		    "out of range", id);
	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, next_attempt_at);
	if (rc == SQLITE_OK) rc = bind_opt(s, 4, last_error);
	if (rc == SQLITE_OK) rc = bind_opt(s, 5, error);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 6, (sqlite3_int64)u->status);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 7, u->etag != NULL ? u->etag : "");
	if (rc == SQLITE_OK)
		rc = bind_text(s, 8, u->version != NULL ? u->version : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 9, (sqlite3_int64)u->bytes);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 10, (sqlite3_int64)u->duration_ms);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 11, u->spki != NULL ? u->spki : "");
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 12, spool_until);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 13, now);
	return store_update(st, s, rc, id, "end a delivery attempt", err,
	    errlen);
}

int
store_transfer_spool_released(struct store *st, const char *id, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_SPOOL_RELEASED];

	return store_update(st, s, bind_text(s, 1, id), id,
	    "release the spool copy", err, errlen);
}

int
store_transfer_each_spool_due(struct store *st, int64_t now,
    int (*fn)(const char *id, void *arg), void *arg, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_SPOOL_DUE];
	char ids[STORE_EACH_PAGE][UTIL_ID_LEN + 1];
	char last_id[UTIL_ID_LEN + 1] = "";
	sqlite3_int64 last = 0;
	int n, i, rc;

	for (;;) {
		rc = sqlite3_bind_int64(s, 1, now);
		if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, last);
		if (rc == SQLITE_OK) rc = bind_text(s, 3, last_id);
		if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 4, STORE_EACH_PAGE);
		n = 0;
		while (rc == SQLITE_OK && n < STORE_EACH_PAGE &&
		    (rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (col_text(s, 0, ids[n], sizeof(ids[n])) == -1) {
				store_done(s);
				return util_err(err, errlen, "store: spool "
				    "due: an id does not fit its field");
			}
			last = sqlite3_column_int64(s, 1);
			n++;
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK && rc != SQLITE_DONE) {
			store_fail(st, err, errlen, "spool due");
			store_done(s);
			return -1;
		}
		store_done(s);
		for (i = 0; i < n; i++)
			if (fn(ids[i], arg) != 0)
				return 0;
		if (n < STORE_EACH_PAGE)
			return 0;
		memcpy(last_id, ids[n - 1], sizeof(last_id));
	}
}

int
store_transfer_count_states(struct store *st,
    void (*fn)(const char *state, uint64_t count, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_COUNT_STATES];
	char state[16];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (col_text(s, 0, state, sizeof(state)) == -1 ||
		    sqlite3_column_int64(s, 1) < 0) {
			ret = util_err(err, errlen, "store: count of states: a "
			    "value does not fit");
			break;
		}
		fn(state, (uint64_t)sqlite3_column_int64(s, 1), arg);
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = store_fail(st, err, errlen, "count of states");
	store_done(s);
	return ret;
}

/* ---- open S3 multipart uploads (migration 6) ---------------------------- */

int
store_upload_set(struct store *st, const char *transfer, const char *url,
    const char *upload_id, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_UPLOAD_SET];
	int rc, ret = 0;

	if (url[0] == '\0' || strlen(url) > STORE_MAX_DEST ||
	    upload_id[0] == '\0' || strlen(upload_id) > STORE_MAX_UPLOAD_ID)
		return util_err(err, errlen, "store: upload of %s: the URL or "
		    "the upload id is empty or too long", transfer);
	rc = bind_text(s, 1, transfer);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, url);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, upload_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, now);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		ret = store_fail(st, err, errlen, "remember an upload");
	store_done(s);
	return ret;
}

int
store_upload_forget(struct store *st, const char *transfer,
    const char *upload_id, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_UPLOAD_FORGET];
	int rc, ret = 0;

	rc = bind_text(s, 1, transfer);
	if (rc == SQLITE_OK)
		rc = upload_id != NULL ? bind_text(s, 2, upload_id) :
		    sqlite3_bind_null(s, 2);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
		ret = store_fail(st, err, errlen, "forget an upload");
	store_done(s);
	return ret;
}

int
store_upload_get(struct store *st, const char *transfer, char *url,
    size_t urllen, char *upload_id, size_t idlen, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_UPLOAD_GET];
	int rc, ret;

	rc = bind_text(s, 1, transfer);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		ret = 1;
	else if (rc != SQLITE_ROW)
		ret = store_fail(st, err, errlen, "read an upload");
	else if (col_text(s, 0, url, urllen) == -1 ||
	    col_text(s, 1, upload_id, idlen) == -1)
		ret = util_err(err, errlen, "store: upload of %s: a value does "
		    "not fit its field", transfer);
	else
		ret = 0;
	store_done(s);
	return ret;
}

/* ---- TOTP (migration 3) ----------------------------------------------- */

static int
totp_int64(uint64_t v, sqlite3_int64 *out)
{
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = (sqlite3_int64)v;
	return 0;
}

int
store_totp_get(struct store *st, const char *user, struct store_totp *out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_GET];
	const void *b;
	int rc, ret, n;

	memset(out, 0, sizeof(*out));
	if (bind_text(s, 1, user) != SQLITE_OK) {
		store_done(s);
		return store_fail(st, err, errlen, "get totp");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		store_done(s);
		util_err(err, errlen, "store: no TOTP secret for %s", user);
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		ret = store_fail(st, err, errlen, "get totp");
		store_done(s);
		return ret;
	}
	ret = 0;
	if (col_text(s, 0, out->user, sizeof(out->user)) == -1 ||
	    col_text(s, 3, out->state, sizeof(out->state)) == -1)
		ret = -1;
	b = sqlite3_column_blob(s, 1);
	n = sqlite3_column_bytes(s, 1);
	if (ret == 0 && b != NULL && n > 0 &&
	    (size_t)n <= sizeof(out->sealed)) {
		memcpy(out->sealed, b, (size_t)n);
		out->sealed_len = (size_t)n;
	} else
		ret = -1;
	b = sqlite3_column_blob(s, 2);
	n = sqlite3_column_bytes(s, 2);
	if (ret == 0 && b != NULL && (size_t)n == sizeof(out->nonce))
		memcpy(out->nonce, b, sizeof(out->nonce));
	else
		ret = -1;
	out->last_step = sqlite3_column_int64(s, 4);
	out->failures = (uint64_t)sqlite3_column_int64(s, 5);
	out->locked_until = sqlite3_column_int64(s, 6);
	out->lock_count = (uint64_t)sqlite3_column_int64(s, 7);
	out->created = sqlite3_column_int64(s, 8);
	out->activated = sqlite3_column_int64(s, 9);
	store_done(s);
	if (ret != 0) {
		memset(out, 0, sizeof(*out));
		return util_err(err, errlen, "store: the TOTP row of %s does "
		    "not fit its fields", user);
	}
	return 0;
}

int
store_totp_put(struct store *st, const struct store_totp *t, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_PUT];
	sqlite3_int64 failures, lock_count;
	int rc;

	if (totp_int64(t->failures, &failures) != 0 ||
	    totp_int64(t->lock_count, &lock_count) != 0 ||
	    t->sealed_len > sizeof(t->sealed))
		return util_err(err, errlen, "store: totp of %s: value out of "
		    "range", t->user);
	rc = bind_text(s, 1, t->user);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(s, 2, t->sealed, (int)t->sealed_len,
		    SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(s, 3, t->nonce, sizeof(t->nonce),
		    SQLITE_STATIC);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, t->state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, t->last_step);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, failures);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, t->locked_until);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, lock_count);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, t->created);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 10, t->activated);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK)
		store_fail(st, err, errlen, "put totp");
	store_done(s);
	return rc == SQLITE_OK ? 0 : -1;
}

int
store_totp_update(struct store *st, const struct store_totp *t,
    int64_t expect_step, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_UPDATE];
	sqlite3_int64 failures, lock_count;
	int rc;

	if (totp_int64(t->failures, &failures) != 0 ||
	    totp_int64(t->lock_count, &lock_count) != 0)
		return util_err(err, errlen, "store: totp of %s: value out of "
		    "range", t->user);
	rc = bind_text(s, 1, t->user);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, t->state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, t->last_step);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 4, failures);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, t->locked_until);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, lock_count);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, t->activated);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(s, 8, t->nonce, sizeof(t->nonce),
		    SQLITE_STATIC);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, expect_step);
	return store_update(st, s, rc, t->user, "update totp", err, errlen);
}

int
store_totp_delete(struct store *st, const char *user, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_DELETE];

	return store_update(st, s, bind_text(s, 1, user), user,
	    "delete totp", err, errlen);
}

int
store_totp_event_add(struct store *st, const struct store_totp_event *ev,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_EVENT_ADD];
	int rc;

	rc = sqlite3_bind_int64(s, 1, ev->time);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, ev->type);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, ev->user);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, ev->actor);
	if (rc == SQLITE_OK) rc = bind_text(s, 5, ev->detail);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK)
		store_fail(st, err, errlen, "queue totp event");
	store_done(s);
	return rc == SQLITE_OK ? 0 : -1;
}

int
store_totp_event_list(struct store *st, struct store_totp_event *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_EVENT_LIST];
	int rc;

	*n = 0;
	if (max > INT32_MAX)
		max = INT32_MAX;
	rc = sqlite3_bind_int(s, 1, (int)max);
	while (rc == SQLITE_OK && *n < max &&
	    (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_totp_event *ev = &out[*n];

		memset(ev, 0, sizeof(*ev));
		ev->id = sqlite3_column_int64(s, 0);
		ev->time = sqlite3_column_int64(s, 1);
		if (col_text(s, 2, ev->type, sizeof(ev->type)) == -1 ||
		    col_text(s, 3, ev->user, sizeof(ev->user)) == -1 ||
		    col_text(s, 4, ev->actor, sizeof(ev->actor)) == -1 ||
		    col_text(s, 5, ev->detail, sizeof(ev->detail)) == -1) {
			store_done(s);
			return util_err(err, errlen, "store: a queued TOTP "
			    "event does not fit its fields");
		}
		(*n)++;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		store_fail(st, err, errlen, "list totp events");
		store_done(s);
		return -1;
	}
	store_done(s);
	return 0;
}

int
store_totp_event_delete(struct store *st, int64_t id, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_TOTP_EVENT_DELETE];
	char what[32];

	snprintf(what, sizeof(what), "%lld", (long long)id);
	return store_update(st, s, sqlite3_bind_int64(s, 1, id), what,
	    "delete totp event", err, errlen);
}

/* ---- TOTP enrolment codes (migration 8) ------------------------------- */

int
store_enrol_code_get(struct store *st, const char *user,
    struct store_enrol_code *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_ENROL_GET];
	const void *b;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if (bind_text(s, 1, user) != SQLITE_OK ||
	    util_strlcpy(out->user, user, sizeof(out->user)) != 0) {
		store_done(s);
		return store_fail(st, err, errlen, "get enrolment code");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		store_done(s);
		util_err(err, errlen, "store: no enrolment code for %s", user);
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		rc = store_fail(st, err, errlen, "get enrolment code");
		store_done(s);
		return rc;
	}
	b = sqlite3_column_blob(s, 0);
	n = sqlite3_column_bytes(s, 0);
	if (b != NULL && (size_t)n == sizeof(out->mac)) {
		memcpy(out->mac, b, sizeof(out->mac));
		out->has_mac = 1;
	}
	out->issued = sqlite3_column_int64(s, 1);
	out->expires = sqlite3_column_int64(s, 2);
	out->used = sqlite3_column_int64(s, 3);
	out->force = sqlite3_column_int(s, 4) != 0;
	out->failures = (uint64_t)sqlite3_column_int64(s, 5);
	out->locked_until = sqlite3_column_int64(s, 6);
	out->lock_count = (uint64_t)sqlite3_column_int64(s, 7);
	store_done(s);
	return 0;
}

int
store_enrol_code_put(struct store *st, const struct store_enrol_code *c,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_ENROL_PUT];
	sqlite3_int64 failures, lock_count;
	int rc;

	if (totp_int64(c->failures, &failures) != 0 ||
	    totp_int64(c->lock_count, &lock_count) != 0)
		return util_err(err, errlen, "store: enrolment code of %s: "
		    "value out of range", c->user);
	rc = bind_text(s, 1, c->user);
	if (rc == SQLITE_OK)
		rc = c->has_mac ? sqlite3_bind_blob(s, 2, c->mac,
		    sizeof(c->mac), SQLITE_STATIC) : sqlite3_bind_null(s, 2);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, c->issued);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 4, c->expires);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, c->used);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 6, c->force ? 1 : 0);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, failures);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, c->locked_until);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, lock_count);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK)
		store_fail(st, err, errlen, "put enrolment code");
	store_done(s);
	return rc == SQLITE_OK ? 0 : -1;
}

/* ---- held transfers and exceptions (migration 4) ------------------------ */

/* Binds an unsigned count or size that must fit SQLite's int64. */
static int
bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return SQLITE_RANGE;
	return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

/* Runs a bound INSERT: STORE_EXISTS on a uniqueness conflict. */
static int
store_insert(struct store *st, sqlite3_stmt *s, int rc, const char *what,
    char *err, size_t errlen)
{
	int ret = 0;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		ret = 0;
	else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    rc == SQLITE_CONSTRAINT_UNIQUE) {
		util_err(err, errlen, "store: %s: already recorded", what);
		ret = STORE_EXISTS;
	} else if (rc == SQLITE_RANGE)
		ret = util_err(err, errlen, "store: %s: value out of range",
		    what);
	else
		ret = store_fail(st, err, errlen, what);
	store_done(s);
	return ret;
}

static int
ap_row(sqlite3_stmt *s, struct store_approval *a)
{
	sqlite3_int64 required, n;

	memset(a, 0, sizeof(*a));
	if (col_text(s, 0, a->transfer, sizeof(a->transfer)) == -1 ||
	    col_text(s, 1, a->interface, sizeof(a->interface)) == -1 ||
	    col_text(s, 2, a->user, sizeof(a->user)) == -1 ||
	    col_text(s, 3, a->approvers, sizeof(a->approvers)) == -1 ||
	    col_text(s, 5, a->state, sizeof(a->state)) == -1 ||
	    col_text(s, 9, a->decided_by, sizeof(a->decided_by)) == -1 ||
	    col_text(s, 10, a->comment, sizeof(a->comment)) == -1)
		return -1;
	required = sqlite3_column_int64(s, 4);
	n = sqlite3_column_int64(s, 11);
	if (required < 1 || required > 16 || n < 0 || n > 1000000)
		return -1;
	a->required = (unsigned)required;
	a->created = sqlite3_column_int64(s, 6);
	a->expires = sqlite3_column_int64(s, 7);
	a->decided = sqlite3_column_int64(s, 8);
	a->approvals = (unsigned)n;
	return 0;
}

int
store_approval_insert(struct store *st, const struct store_approval *a,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_AP_INSERT];
	int rc;

	rc = bind_text(s, 1, a->transfer);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, a->interface);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, a->user);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, a->approvers);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, a->required);
	if (rc == SQLITE_OK) rc = bind_text(s, 6, a->state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, a->created);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, a->expires);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, a->decided);
	if (rc == SQLITE_OK) rc = bind_text(s, 10, a->decided_by);
	if (rc == SQLITE_OK) rc = bind_text(s, 11, a->comment);
	return store_insert(st, s, rc, "insert approval request", err, errlen);
}

int
store_approval_get(struct store *st, const char *transfer,
    struct store_approval *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_AP_GET];
	int rc, ret;

	if (bind_text(s, 1, transfer) != SQLITE_OK) {
		store_done(s);
		return store_fail(st, err, errlen, "get approval request");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((ret = ap_row(s, out)) == -1)
			util_err(err, errlen, "store: approval request %s: a "
			    "column does not fit its field", transfer);
	} else if (rc == SQLITE_DONE) {
		util_err(err, errlen, "store: no approval request for %s",
		    transfer);
		ret = STORE_NOTFOUND;
	} else
		ret = store_fail(st, err, errlen, "get approval request");
	store_done(s);
	return ret;
}

int
store_approval_close(struct store *st, const char *transfer,
    const char *state, const char *decided_by, const char *comment,
    int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_AP_CLOSE];
	int rc;

	rc = bind_text(s, 1, transfer);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, state);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, decided_by);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, comment);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, now);
	return store_update(st, s, rc, transfer, "close approval request",
	    err, errlen);
}

int
store_approval_each(struct store *st, const char *state,
    int64_t expires_before,
    int (*fn)(const struct store_approval *a, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_AP_EACH];
	struct store_approval *page;
	sqlite3_int64 last_created = INT64_MIN;
	char last[UTIL_ID_LEN + 1] = "";
	int n, i, rc, ret = 0;

	if ((page = calloc(STORE_EACH_PAGE, sizeof(*page))) == NULL)
		return util_err(err, errlen, "store: out of memory");
	for (;;) {
		rc = state != NULL ? bind_text(s, 1, state) :
		    sqlite3_bind_null(s, 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 2, expires_before);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 3, last_created);
		if (rc == SQLITE_OK)
			rc = bind_text(s, 4, last);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(s, 5, STORE_EACH_PAGE);
		n = 0;
		while (rc == SQLITE_OK && n < STORE_EACH_PAGE &&
		    (rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (ap_row(s, &page[n]) == -1) {
				store_done(s);
				ret = util_err(err, errlen, "store: approval "
				    "requests: a column does not fit its "
				    "field");
				goto out;
			}
			n++;
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK && rc != SQLITE_DONE) {
			ret = store_fail(st, err, errlen, "approval requests");
			store_done(s);
			goto out;
		}
		store_done(s);
		for (i = 0; i < n; i++)
			if (fn(&page[i], arg) != 0)
				goto out;
		if (n < STORE_EACH_PAGE)
			break;
		last_created = page[n - 1].created;
		memcpy(last, page[n - 1].transfer, sizeof(last));
	}
out:
	free(page);
	return ret;
}

int
store_vote_insert(struct store *st, const struct store_vote *v, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_VOTE_INSERT];
	int rc;

	rc = bind_text(s, 1, v->transfer);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, v->officer);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, v->cert_fp);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 4, v->approve ? "approve" : "reject");
	if (rc == SQLITE_OK) rc = bind_text(s, 5, v->comment);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, v->at);
	return store_insert(st, s, rc, "insert vote", err, errlen);
}

int
store_vote_list(struct store *st, const char *transfer,
    struct store_vote *out, size_t max, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_VOTE_LIST];
	char vote[16];
	int rc, ret = 0;

	*n = 0;
	rc = bind_text(s, 1, transfer);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)(max > 1000 ?
		    1000 : max));
	while (rc == SQLITE_OK && *n < max &&
	    (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_vote *v = &out[*n];

		memset(v, 0, sizeof(*v));
		if (col_text(s, 0, v->transfer, sizeof(v->transfer)) == -1 ||
		    col_text(s, 1, v->officer, sizeof(v->officer)) == -1 ||
		    col_text(s, 2, v->cert_fp, sizeof(v->cert_fp)) == -1 ||
		    col_text(s, 3, vote, sizeof(vote)) == -1 ||
		    col_text(s, 4, v->comment, sizeof(v->comment)) == -1) {
			ret = util_err(err, errlen, "store: votes of %s: a "
			    "column does not fit its field", transfer);
			break;
		}
		v->approve = strcmp(vote, "approve") == 0;
		v->at = sqlite3_column_int64(s, 5);
		(*n)++;
		rc = SQLITE_OK;
	}
	if (ret == 0 && rc != SQLITE_OK && rc != SQLITE_DONE)
		ret = store_fail(st, err, errlen, "list votes");
	store_done(s);
	return ret;
}

static int
ex_bind(sqlite3_stmt *s, const struct store_exception *e)
{
	int rc;

	rc = bind_text(s, 1, e->id);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, e->state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 3, e->emergency != 0);
	if (rc == SQLITE_OK) rc = bind_text(s, 4, e->interface);
	if (rc == SQLITE_OK) rc = bind_text(s, 5, e->users);
	if (rc == SQLITE_OK) rc = bind_text(s, 6, e->groups);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, e->max_class);
	if (rc == SQLITE_OK) rc = bind_u64(s, 8, e->max_size);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 9, e->hours_from);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 10, e->hours_to);
	if (rc == SQLITE_OK) rc = bind_u64(s, 11, e->max_count);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 12, e->not_before);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 13, e->not_after);
	if (rc == SQLITE_OK) rc = bind_text(s, 14, e->reason);
	if (rc == SQLITE_OK) rc = bind_text(s, 15, e->requester);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 16, e->requested);
	if (rc == SQLITE_OK) rc = bind_text(s, 17, e->granted_by);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 18, e->granted);
	if (rc == SQLITE_OK) rc = bind_text(s, 19, e->comment);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 20, e->confirm_by);
	if (rc == SQLITE_OK) rc = bind_text(s, 21, e->confirmed_by);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 22, e->confirmed);
	if (rc == SQLITE_OK) rc = bind_text(s, 23, e->ended_by);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 24, e->ended);
	if (rc == SQLITE_OK) rc = bind_text(s, 25, e->end_reason);
	if (rc == SQLITE_OK) rc = bind_text(s, 26, e->extensions);
	if (rc == SQLITE_OK) rc = bind_text(s, 27, e->confirm_comment);
	return rc;
}

static int
ex_row(sqlite3_stmt *s, struct store_exception *e)
{
	sqlite3_int64 cls, size, hf, ht, count, uses;

	memset(e, 0, sizeof(*e));
	if (col_text(s, 0, e->id, sizeof(e->id)) == -1 ||
	    col_text(s, 1, e->state, sizeof(e->state)) == -1 ||
	    col_text(s, 3, e->interface, sizeof(e->interface)) == -1 ||
	    col_text(s, 4, e->users, sizeof(e->users)) == -1 ||
	    col_text(s, 5, e->groups, sizeof(e->groups)) == -1 ||
	    col_text(s, 13, e->reason, sizeof(e->reason)) == -1 ||
	    col_text(s, 14, e->requester, sizeof(e->requester)) == -1 ||
	    col_text(s, 16, e->granted_by, sizeof(e->granted_by)) == -1 ||
	    col_text(s, 18, e->comment, sizeof(e->comment)) == -1 ||
	    col_text(s, 20, e->confirmed_by, sizeof(e->confirmed_by)) == -1 ||
	    col_text(s, 22, e->ended_by, sizeof(e->ended_by)) == -1 ||
	    col_text(s, 24, e->end_reason, sizeof(e->end_reason)) == -1 ||
	    col_text(s, 25, e->extensions, sizeof(e->extensions)) == -1 ||
	    col_text(s, 26, e->confirm_comment,
	    sizeof(e->confirm_comment)) == -1)
		return -1;
	cls = sqlite3_column_int64(s, 6);
	size = sqlite3_column_int64(s, 7);
	hf = sqlite3_column_int64(s, 8);
	ht = sqlite3_column_int64(s, 9);
	count = sqlite3_column_int64(s, 10);
	uses = sqlite3_column_int64(s, 27);
	if (cls < 0 || cls > 2 || size < 0 || hf < -1 || hf > 1439 ||
	    ht < -1 || ht > 1440 || count < 0 || uses < 0)
		return -1;
	e->emergency = sqlite3_column_int(s, 2) != 0;
	e->max_class = (unsigned)cls;
	e->max_size = (uint64_t)size;
	e->hours_from = (int)hf;
	e->hours_to = (int)ht;
	e->max_count = (uint64_t)count;
	e->uses = (uint64_t)uses;
	e->not_before = sqlite3_column_int64(s, 11);
	e->not_after = sqlite3_column_int64(s, 12);
	e->requested = sqlite3_column_int64(s, 15);
	e->granted = sqlite3_column_int64(s, 17);
	e->confirm_by = sqlite3_column_int64(s, 19);
	e->confirmed = sqlite3_column_int64(s, 21);
	e->ended = sqlite3_column_int64(s, 23);
	return 0;
}

int
store_exception_insert(struct store *st, const struct store_exception *e,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_INSERT];

	return store_insert(st, s, ex_bind(s, e), "insert exception", err,
	    errlen);
}

int
store_exception_get(struct store *st, const char *id,
    struct store_exception *out, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_GET];
	int rc, ret;

	if (bind_text(s, 1, id) != SQLITE_OK) {
		store_done(s);
		return store_fail(st, err, errlen, "get exception");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((ret = ex_row(s, out)) == -1)
			util_err(err, errlen, "store: exception %s: a column "
			    "does not fit its field", id);
	} else if (rc == SQLITE_DONE) {
		util_err(err, errlen, "store: no exception %s", id);
		ret = STORE_NOTFOUND;
	} else
		ret = store_fail(st, err, errlen, "get exception");
	store_done(s);
	return ret;
}

int
store_exception_update(struct store *st, const struct store_exception *e,
    const char *expect, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_UPDATE];
	int rc;

	rc = ex_bind(s, e);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 28, expect);
	if (rc == SQLITE_RANGE) {
		store_done(s);
		return util_err(err, errlen, "store: exception %s: value out "
		    "of range", e->id);
	}
	return store_update(st, s, rc, e->id, "update exception", err,
	    errlen);
}

int
store_exception_each(struct store *st, const char *state,
    int (*fn)(const struct store_exception *e, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_EACH];
	struct store_exception *page;
	char last[STORE_EX_ID_MAX + 1] = "";
	int n, i, rc, ret = 0;

	if ((page = calloc(STORE_EACH_PAGE, sizeof(*page))) == NULL)
		return util_err(err, errlen, "store: out of memory");
	for (;;) {
		rc = state != NULL ? bind_text(s, 1, state) :
		    sqlite3_bind_null(s, 1);
		if (rc == SQLITE_OK)
			rc = bind_text(s, 2, last);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(s, 3, STORE_EACH_PAGE);
		n = 0;
		while (rc == SQLITE_OK && n < STORE_EACH_PAGE &&
		    (rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (ex_row(s, &page[n]) == -1) {
				store_done(s);
				ret = util_err(err, errlen, "store: exceptions: "
				    "a column does not fit its field");
				goto out;
			}
			n++;
			rc = SQLITE_OK;
		}
		if (rc != SQLITE_OK && rc != SQLITE_DONE) {
			ret = store_fail(st, err, errlen, "exceptions");
			store_done(s);
			goto out;
		}
		store_done(s);
		for (i = 0; i < n; i++)
			if (fn(&page[i], arg) != 0)
				goto out;
		if (n < STORE_EACH_PAGE)
			break;
		memcpy(last, page[n - 1].id, sizeof(last));
	}
out:
	free(page);
	return ret;
}

int
store_exception_use(struct store *st, const char *id, const char *transfer,
    const char *user, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_USE];
	int rc;

	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK) rc = bind_text(s, 2, transfer);
	if (rc == SQLITE_OK) rc = bind_text(s, 3, user);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 4, now);
	return store_insert(st, s, rc, "record exception use", err, errlen);
}

int
store_exception_of(struct store *st, const char *transfer, char *id,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_EX_OF];
	int rc, ret;

	id[0] = '\0';
	if (bind_text(s, 1, transfer) != SQLITE_OK) {
		store_done(s);
		return store_fail(st, err, errlen, "exception of transfer");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = col_text(s, 0, id, STORE_EX_ID_MAX + 1) == -1 ?
		    util_err(err, errlen, "store: exception of %s does not "
		    "fit its field", transfer) : 0;
	else if (rc == SQLITE_DONE)
		ret = STORE_NOTFOUND;
	else
		ret = store_fail(st, err, errlen, "exception of transfer");
	store_done(s);
	return ret;
}

/* ---- the owner's view (transfers_ls, withdraw) ---------------------------- */

int
store_transfer_list_own(struct store *st, const char *user,
    int64_t before_created, const char *before_id, struct transfer *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_LIST_OWN];
	int rc;

	*n = 0;
	if (max > INT32_MAX)
		return util_err(err, errlen, "store: list: page too large");
	rc = bind_text(s, 1, user);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, before_id != NULL ?
		    before_created : INT64_MAX);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, before_id != NULL ? before_id : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 4, (int)max);
	while (rc == SQLITE_OK && *n < max &&
	    (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_row(s, &out[*n]) == -1) {
			store_done(s);
			return util_err(err, errlen, "store: list: a column "
			    "does not fit its field");
		}
		(*n)++;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		store_fail(st, err, errlen, "list own transfers");
		store_done(s);
		return -1;
	}
	store_done(s);
	return 0;
}

int
store_transfer_withdraw(struct store *st, const char *id, const char *user,
    const char *error, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = st->stmt[S_WITHDRAW];
	int rc;

	rc = bind_text(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, user);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, error);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, now);
	return store_update(st, s, rc, id, "withdraw", err, errlen);
}
