/*
 * credentials — the secrets the broker presents to a specified cloud
 * service. The register names them by reference only (a service's
 * `credentials`); the secret itself lives in a small YAML file that only the
 * broker's user may read:
 *
 *   type: bearer              type: basic           type: aws
 *   token: "..."              username: "..."       access_key_id: "..."
 *                             password: "..."       secret_access_key: "..."
 *                                                   session_token: "..." (opt.)
 *
 * A reference that starts with '/' is the file's path; any other reference
 * must be an id (A-Z a-z 0-9 . _ -) and names <credentials_dir>/<id>.yaml.
 * The file must be a regular file owned by the broker's effective user with
 * no permission bits for group or others (like ssh's private keys), and at
 * most CREDENTIALS_MAX_FILE bytes. Error messages name the file and field,
 * never a secret's value.
 *
 * Memory: a struct credentials is plain storage; credentials_clear wipes it
 * (explicit_bzero) and must be called when it is no longer needed.
 */
#ifndef SEKISHO_CREDENTIALS_H
#define SEKISHO_CREDENTIALS_H

#include <stddef.h>

#define CREDENTIALS_MAX_FILE 65536

enum credentials_kind {
	CREDENTIALS_NONE = 0,
	CREDENTIALS_BEARER,
	CREDENTIALS_BASIC,
	CREDENTIALS_AWS
};

struct credentials {
	enum credentials_kind kind;
	char user[256];			/* basic username, AWS access key id */
	char secret[1024];		/* bearer token, password, AWS secret */
	char session_token[2048];	/* AWS session token, "" when none */
};

/* The file a reference names, into out. -1 with the reason. */
int credentials_path(const char *dir, const char *ref, char *out,
    size_t outlen, char *err, size_t errlen);

/* Loads the credentials a reference names into out (wiped first). */
int credentials_load(const char *dir, const char *ref,
    struct credentials *out, char *err, size_t errlen);

void credentials_clear(struct credentials *c);

const char *credentials_kind_name(enum credentials_kind k);

#endif
