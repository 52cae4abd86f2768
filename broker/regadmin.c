/*
 * regadmin — see regadmin.h.
 */
#include "broker/regadmin.h"
#include "broker/config.h"
#include "broker/forward.h"
#include "broker/regdiff.h"
#include "broker/regstore.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

int
regadmin_sha256(const char *buf, size_t len,
    char out[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	unsigned char md[UTIL_SHA256_LEN];

	if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1)
		return util_err(err, errlen, "SHA-256 failed");
	util_hex(md, sizeof(md), out);
	return 0;
}

int
regadmin_active_text(struct store *st, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	struct regstore_version v;
	char got[UTIL_SHA256_HEX + 1];
	int rc;

	*buf = NULL;
	*len = 0;
	rc = regstore_active(st, sha, NULL, err, errlen);
	if (rc == STORE_NOTFOUND)
		return util_err(err, errlen, "register.mode is approved but no "
		    "approved version of the register is installed; install "
		    "the first with sekishod -c CONFIG --register-bootstrap "
		    "FILE --reason TEXT / 承認済みの台帳がありません"),
		    STORE_NOTFOUND;
	if (rc != 0)
		return -1;
	if (regstore_get(st, sha, 1, &v, err, errlen) != 0) {
		regstore_version_clear(&v);
		return -1;
	}
	/* The store is the source of truth here: a row whose text does not
	 * have its hash was changed behind the broker's back. */
	if (regadmin_sha256(v.yaml, v.yaml_len, got, err, errlen) != 0 ||
	    strcmp(got, sha) != 0) {
		regstore_version_clear(&v);
		return util_err(err, errlen, "the approved register version %s "
		    "in the state store does not have that SHA-256 (it is %s); "
		    "refusing to run it", sha, got);
	}
	*buf = v.yaml;
	*len = v.yaml_len;
	v.yaml = NULL;
	regstore_version_clear(&v);
	return 0;
}

int
regadmin_check_text(const struct config *cfg, const char *name,
    const char *buf, size_t len, FILE *problems, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen)
{
	char *probs = NULL, *nl;
	size_t plen = 0, n;
	FILE *mf;

	*p = NULL;
	if (rd != NULL)
		*rd = NULL;
	if (len > REGSTORE_MAX_YAML)
		return util_err(err, errlen, "%s: %zu bytes; an approved "
		    "register is at most %d bytes", name, len,
		    REGSTORE_MAX_YAML);
	if (policy_load_buffer(name, buf, len, p, err, errlen) != 0)
		return -1;
	if ((mf = open_memstream(&probs, &plen)) == NULL) {
		policy_free(*p);
		*p = NULL;
		return util_err(err, errlen, "out of memory");
	}
	n = forward_check(cfg, *p, mf);
	fclose(mf);
	if (n > 0) {
		if (problems != NULL && probs != NULL)
			fputs(probs, problems);
		if (probs != NULL && (nl = strchr(probs, '\n')) != NULL)
			*nl = '\0';
		util_err(err, errlen, "%zu delivery problem%s in the register, "
		    "first: %s", n, n == 1 ? "" : "s", probs != NULL ? probs :
		    "?");
		free(probs);
		policy_free(*p);
		*p = NULL;
		return -1;
	}
	free(probs);
	if (rd != NULL && regdiff_new(name, buf, len, rd, err, errlen) != 0) {
		policy_free(*p);
		*p = NULL;
		return -1;
	}
	return 0;
}

int
regadmin_bootstrap(const struct config *cfg, struct store *st,
    const char *file, const char *reason, const char *actor, time_t now,
    FILE *problems, char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	struct regstore_version v;
	struct policy *p = NULL;
	char *buf = NULL, cur[UTIL_SHA256_HEX + 1], detail[96], summary[160];
	size_t len = 0;
	int rc = -1, r;

	sha[0] = '\0';
	if (!cfg->register_approved)
		return util_err(err, errlen, "%s: register.mode is file; set "
		    "register.mode: approved to run only approved versions "
		    "(then bootstrap) / 台帳は file モードです", cfg->path);
	if (reason == NULL || reason[0] == '\0' ||
	    strlen(reason) > STORE_TEXT_MAX)
		return util_err(err, errlen, "--reason: say why, 1 to %d bytes "
		    "(it is recorded with the version)", STORE_TEXT_MAX);
	if (regdiff_read_file(file, &buf, &len, err, errlen) != 0)
		return -1;
	if (regadmin_check_text(cfg, file, buf, len, problems, &p, NULL,
	    err, errlen) != 0)
		goto out;
	if (regadmin_sha256(buf, len, sha, err, errlen) != 0 ||
	    store_begin(st, err, errlen) != 0)
		goto out;
	r = regstore_active(st, cur, NULL, err, errlen);
	if (r == 0) {
		util_err(err, errlen, "an approved register version (%s) is "
		    "in force already; changes are proposed with sekisho "
		    "register propose and approved by a second person / "
		    "承認済みの台帳が既にあります", cur);
		goto rollback;
	}
	if (r != STORE_NOTFOUND)
		goto rollback;
	memset(&v, 0, sizeof(v));
	util_strlcpy(v.sha256, sha, sizeof(v.sha256));
	if (util_strlcpy(v.proposer, actor, sizeof(v.proposer)) != 0)
		util_strlcpy(v.proposer, "?", sizeof(v.proposer));
	util_strlcpy(v.reason, reason, sizeof(v.reason));
	util_strlcpy(v.state, REGSTORE_ACTIVE, sizeof(v.state));
	v.created = (int64_t)now;
	v.activated = (int64_t)now;
	snprintf(summary, sizeof(summary), "bootstrap: %zu interface%s",
	    policy_interface_count(p), policy_interface_count(p) == 1 ? "" :
	    "s");
	v.summary = summary;
	snprintf(detail, sizeof(detail), "version=%s", sha);
	r = regstore_insert(st, &v, buf, len, err, errlen);
	if (r == STORE_EXISTS)
		util_err(err, errlen, "register version %s is stored already "
		    "(it was proposed before); approve it instead", sha);
	if (r != 0 ||
	    regstore_set_active(st, sha, (int64_t)now, err, errlen) != 0 ||
	    stepup_queue_event(st, "register_bootstrap", v.proposer, actor,
	    detail, now, err, errlen) != 0 ||
	    store_commit(st, err, errlen) != 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	store_rollback(st);
	sha[0] = '\0';
out:
	policy_free(p);
	free(buf);
	return rc;
}

int
regadmin_export(const char *db_path, const char *file,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	char *buf = NULL, *tmp = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc = -1, fd;

	if (regadmin_read_active(db_path, &buf, &len, sha, err, errlen) != 0)
		return -1;
	if (strcmp(file, "-") == 0) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
			util_err(err, errlen, "standard output: %s",
			    strerror(errno));
		else
			rc = 0;
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp", file) < 0) {
		tmp = NULL;
		util_err(err, errlen, "out of memory");
		goto out;
	}
	/* Beside the file and renamed: a reader (or a SIGHUP) sees the old
	 * text or the new one, never half. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		util_err(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	if (fwrite(buf, 1, len, f) != len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		util_err(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, file) != 0) {
		util_err(err, errlen, "%s: %s", file, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(buf);
	return rc;
}

int
regadmin_read_active(const char *path, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	char got[UTIL_SHA256_HEX + 1], why[256];
	int rc;

	rc = regstore_read_active(path, buf, len, sha, why, sizeof(why));
	if (rc == STORE_NOTFOUND)
		return util_err(err, errlen, "register.mode is approved but no "
		    "approved version of the register is installed (%s); "
		    "install the first with sekishod -c CONFIG "
		    "--register-bootstrap FILE --reason TEXT / 承認済みの台帳が"
		    "ありません", why), STORE_NOTFOUND;
	if (rc != 0)
		return util_err(err, errlen, "%s", why);
	if (regadmin_sha256(*buf, *len, got, err, errlen) != 0 ||
	    strcmp(got, sha) != 0) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return util_err(err, errlen, "the approved register version %s "
		    "in the state store does not have that SHA-256; refusing "
		    "to run it", sha);
	}
	return 0;
}
