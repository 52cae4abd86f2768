/*
 * regapproval — see regapproval.h.
 */
#include "broker/regapproval.h"
#include "broker/regadmin.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/request.h"
#include "broker/regdiff.h"
#include "broker/regstore.h"
#include "broker/store.h"
#include "lib/wire.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* ---- the broker's part ---------------------------------------------------- */

#define STAGE_MAX 4		/* proposals being uploaded at once */
#define STAGE_TTL 600		/* seconds a half-sent proposal is kept */
#define SWEEP_INTERVAL 10	/* seconds between expiry sweeps */
#define LIST_MAX 100		/* versions in one register_ls answer */
#define VOTES_MAX 32		/* votes read per version */
#define SWEEP_EXPIRE_MAX 64	/* proposals expired per sweep */

struct regstage {
	int used;
	char user[IDENTITY_MAX_ID + 1];
	char cert_fp[UTIL_SHA256_HEX + 1];
	char version[UTIL_SHA256_HEX + 1];
	uint8_t *buf;
	size_t size, got;
	time_t touched;
};

struct regapproval {
	struct broker *b;
	struct regdiff *rd;		/* digests of the version in force */
	struct regstage stage[STAGE_MAX];
	struct event *sweep_ev;
	int sweeping;			/* a sweep job is in flight */
};

static void
stage_clear(struct regstage *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* Prints lines indented by two spaces. */
static void
indent_lines(FILE *f, const char *lines)
{
	const char *p = lines, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		fprintf(f, "  %.*s\n", (int)(nl != NULL ? (size_t)(nl - p) :
		    strlen(p)), p);
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/* The summary of a change as one text: what an approver reads first. */
static char *
summary_text(const struct regdiff_changes *ch, const struct regdiff_detail *dt)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "interfaces added: %s\ninterfaces removed: %s\n"
	    "interfaces changed: %s\n",
	    ch->nadded > 0 ? ch->added : "-",
	    ch->nremoved > 0 ? ch->removed : "-",
	    ch->nchanged > 0 ? ch->changed : "-");
	indent_lines(f, dt->interface_fields);
	fprintf(f, "principals and services added: %s\n"
	    "principals and services removed: %s\n"
	    "principals and services changed: %s\n",
	    dt->named_added[0] != '\0' ? dt->named_added : "-",
	    dt->named_removed[0] != '\0' ? dt->named_removed : "-",
	    dt->named_changed[0] != '\0' ? dt->named_changed : "-");
	indent_lines(f, dt->named_fields);
	fprintf(f, "sections changed: %s\n",
	    ch->nsections > 0 ? ch->sections : "-");
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	if (len > WIRE_MAX_REG_SUMMARY) {
		/* Cut on a line boundary; the counts stay in the audit. */
		char *nl;

		out[WIRE_MAX_REG_SUMMARY - 4] = '\0';
		if ((nl = strrchr(out, '\n')) != NULL)
			nl[1] = '\0';
		strcat(out, "...");
	}
	return out;
}

/* The changes from the version in force to text, as summary_text. */
static char *
summary_against(const struct regdiff *cur, const char *text, size_t len,
    struct regdiff_changes *ch, char *err, size_t errlen)
{
	struct regdiff *rd = NULL;
	struct regdiff_detail dt;
	char *s = NULL;

	memset(ch, 0, sizeof(*ch));
	memset(&dt, 0, sizeof(dt));
	if (regdiff_new("register", text, len, &rd, err, errlen) != 0)
		return NULL;
	if (regdiff_compare(cur, rd, ch, err, errlen) == 0 &&
	    regdiff_compare_detail(cur, rd, &dt, err, errlen) == 0)
		s = summary_text(ch, &dt);
	regdiff_detail_free(&dt);
	regdiff_free(rd);
	if (s == NULL && err[0] == '\0')
		util_err(err, errlen, "out of memory");
	return s;
}

/* Reasons and comments go into the trail as text: no control bytes. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s != NULL && i == UTIL_SHA256_HEX;
}

#define VERSION_FORM "version: 8 to 64 lower-case hex digits of the " \
	"version's SHA-256 / 版は SHA-256 の先頭 8 桁以上 (16 進小文字) で" \
	"指定してください"

/* A version as a user names it: 8 to 64 leading hex digits. */
static int
is_prefix(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i >= 8 && i <= UTIL_SHA256_HEX;
}

void
regapproval_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *message)
{
	struct auditrec rec;
	const char *v = wire_msg_text(m, "version");

	if (request_refuse_unaudited(c, m->id))
		return;
	auditrec_init(&rec, "register_refused", &c->who, c->peer);
	auditrec_text(&rec, "op", wire_op_name(m->op));
	auditrec_text(&rec, "code", code);
	auditrec_text(&rec, "message", message);
	if (v != NULL)
		auditrec_text(&rec, "version", v);
	request_audit(c->b, &rec);
	log_kv("warn", "register_refused", "user=%s op=%s code=%s",
	    c->who.user, wire_op_name(m->op), code);
	reqconn_send_error(c, m->id, code, message, NULL, 0);
}

/* The module, or NULL after refusing: the broker runs register.mode
 * file, where nothing is proposed or approved. */
static struct regapproval *
ra_of(struct reqconn *c, const struct wire_msg *m)
{
	if (c->b->regapproval == NULL)
		regapproval_refuse(c, m, "register_file_mode", "この関所は"
		    "台帳をファイルから読み込む設定 (register.mode: file) です。"
		    "提案と承認は register.mode: approved で使えます / this "
		    "broker runs the register file as it is (register.mode: "
		    "file); proposals and approvals need register.mode: "
		    "approved");
	return c->b->regapproval;
}

static void
principal_of(const struct reqconn *c, struct policy_principal *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->user = c->who.user;
	pp->dept = c->who.dept;
	pp->terminal = c->who.terminal;
}

/* 1 when c is a member of register_approvers in the version in force;
 * *required is how many must approve (0: none named). */
static int
is_approver(const struct reqconn *c, unsigned *required)
{
	struct policy_principal pp;
	const char *group;

	*required = 0;
	if (policy_register_approvers(c->b->policy, &group, required) != 0)
		return 0;
	principal_of(c, &pp);
	return policy_group_has(c->b->policy, group, &pp);
}

/* Reading the versions: administrators and register approvers. */
static int
may_read(struct reqconn *c, const struct wire_msg *m)
{
	struct policy_principal pp;
	unsigned req;

	principal_of(c, &pp);
	if ((policy_principal_roles(c->b->policy, &pp) & POLICY_ROLE_ADMIN) ||
	    is_approver(c, &req))
		return 1;
	regapproval_refuse(c, m, "not_register_approver", "台帳の変更を見るに"
	    "は管理者 (admin) の役割か、台帳の承認者グループ "
	    "(register_approvers) への所属が必要です / reading register "
	    "changes needs the admin role or membership of the "
	    "register_approvers group");
	return 0;
}

static void
version_answer(struct wire_msg *a, uint64_t id, const struct regstore_version *v,
    unsigned approvals, unsigned required, const char *in_force,
    const char *summary)
{
	wire_msg_init(a, WIRE_OP_REGISTER_VERSION, id);
	wire_msg_set_text(a, "version", v->sha256);
	wire_msg_set_text(a, "state", v->state);
	wire_msg_set_text(a, "proposer", v->proposer);
	wire_msg_set_text(a, "reason", v->reason);
	wire_msg_set_bool(a, "emergency", v->emergency);
	if (v->base[0] != '\0')
		wire_msg_set_text(a, "base", v->base);
	wire_msg_set_uint(a, "created", (uint64_t)v->created);
	if (v->expires > 0)
		wire_msg_set_uint(a, "expires", (uint64_t)v->expires);
	if (v->activated > 0)
		wire_msg_set_uint(a, "activated", (uint64_t)v->activated);
	if (v->previous[0] != '\0')
		wire_msg_set_text(a, "previous", v->previous);
	if (v->confirm_by > 0)
		wire_msg_set_uint(a, "confirm_by", (uint64_t)v->confirm_by);
	if (v->decided > 0)
		wire_msg_set_uint(a, "decided", (uint64_t)v->decided);
	wire_msg_set_uint(a, "approvals", approvals);
	wire_msg_set_uint(a, "required", required);
	wire_msg_set_bool(a, "in_force", in_force != NULL &&
	    strcmp(in_force, v->sha256) == 0);
	if (summary != NULL)
		wire_msg_set_text(a, "summary", summary);
}

/* ---- register_propose ------------------------------------------------ */

struct propose_job {
	struct commit_job job;
	struct reqconn *c;
	uint64_t id;
	struct regstore_version v;	/* summary owned here */
	uint8_t *buf;
	size_t len;
	unsigned required;
	struct auditrec rec;
	int exists;
};

static int
work_propose(struct commit_job *cj, struct commit_env *env)
{
	struct propose_job *j = cj->arg;
	int rc;

	rc = regstore_insert(env->store, &j->v, (const char *)j->buf, j->len,
	    cj->err, sizeof(cj->err));
	if (rc == STORE_EXISTS) {
		j->exists = 1;
		return 0;
	}
	if (rc != 0)
		return -1;
	return auditrec_append(&j->rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
done_propose(struct commit_job *cj, int status)
{
	struct propose_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct wire_msg a;

	if (status != 0) {
		log_kv("error", "register_propose", "reason=\"%s\"", cj->err);
		if (!reqconn_ending(c))
			reqconn_send_error(c, j->id, "unavailable", "the broker "
			    "could not store the proposal; try again later",
			    NULL, 30);
	} else if (reqconn_ending(c)) {
		/* Stored (and audited); the proposer sees it in ls. */
	} else if (j->exists) {
		reqconn_send_error(c, j->id, "register_exists", "この内容の台帳"
		    "は既に登録されています (sekisho register show で状態を確認"
		    "してください) / this exact register text is stored "
		    "already; see sekisho register show", "version", 0);
	} else {
		log_kv("info", "register_proposed", "user=%s version=%s "
		    "base=%s emergency=%d", j->v.proposer, j->v.sha256,
		    j->v.base, j->v.emergency);
		version_answer(&a, j->id, &j->v, 0, j->v.emergency ? 1 :
		    j->required, NULL, j->v.summary);
		reqconn_send(c, &a);
		wire_msg_clear(&a);
	}
	free(j->v.summary);
	free(j->buf);
	free(j);
	reqconn_done_waiting(c);
}

/* The staging slot of c's proposal: offset 0 starts (or restarts) one. */
static struct regstage *
stage_for(struct regapproval *ra, const struct reqconn *c, uint64_t offset,
    time_t now)
{
	struct regstage *s, *free_slot = NULL;
	size_t i;

	for (i = 0; i < STAGE_MAX; i++) {
		s = &ra->stage[i];
		if (s->used && s->touched + STAGE_TTL < now)
			stage_clear(s);
		if (s->used && strcmp(s->cert_fp, c->who.cert_fp) == 0 &&
		    strcmp(s->user, c->who.user) == 0) {
			if (offset == 0)
				stage_clear(s);
			else
				return s;
		}
		if (!s->used && free_slot == NULL)
			free_slot = s;
	}
	return offset == 0 ? free_slot : NULL;
}

void
regapproval_handle_propose(struct reqconn *c, const struct wire_msg *m)
{
	struct regapproval *ra = ra_of(c, m);
	struct broker *b = c->b;
	const struct wire_value *ev;
	const char *version = wire_msg_text(m, "version");
	const char *reason = wire_msg_text(m, "reason");
	const uint8_t *part;
	struct regstage *s;
	struct propose_job *j;
	struct policy *p = NULL;
	struct regdiff_changes ch;
	struct wire_msg a;
	char err[512], sha[UTIL_SHA256_HEX + 1], msg[1024];
	uint64_t size = 0, offset = 0;
	size_t plen = 0;
	time_t now = broker_now(b);
	unsigned required;
	const char *group;

	if (ra == NULL)
		return;
	part = wire_msg_bytes(m, "part", &plen);
	ev = wire_msg_get(m, "emergency");
	if (!is_hex64(version)) {
		reqconn_send_error(c, m->id, "bad_value", "version: the SHA-256 "
		    "of the whole text, 64 lower-case hex digits", "version", 0);
		return;
	}
	if (wire_msg_uint(m, "size", &size) != 0 || size == 0 ||
	    size > REGSTORE_MAX_YAML) {
		snprintf(msg, sizeof(msg), "size: a register is 1 to %d bytes "
		    "/ 台帳は %d バイトまでです", REGSTORE_MAX_YAML,
		    REGSTORE_MAX_YAML);
		reqconn_send_error(c, m->id, "bad_value", msg, "size", 0);
		return;
	}
	if (reason == NULL || reason[0] == '\0' || has_control(reason)) {
		reqconn_send_error(c, m->id, "bad_value", "reason: say why the "
		    "register changes (no control characters) / 変更理由を"
		    "入力してください", "reason", 0);
		return;
	}
	if (wire_msg_uint(m, "offset", &offset) != 0 || part == NULL ||
	    (s = stage_for(ra, c, offset, now)) == NULL) {
		if (offset == 0)
			reqconn_send_error(c, m->id, "unavailable", "too many "
			    "register proposals are being sent at once; try "
			    "again in a few minutes", NULL, 60);
		else
			reqconn_send_error(c, m->id, "bad_value", "offset: no "
			    "proposal of yours is being sent; start again at "
			    "offset 0", "offset", 0);
		return;
	}
	if (offset == 0) {
		if ((s->buf = malloc((size_t)size)) == NULL) {
			reqconn_send_error(c, m->id, "unavailable", "the broker "
			    "is out of memory; try again later", NULL, 30);
			return;
		}
		s->used = 1;
		util_strlcpy(s->user, c->who.user, sizeof(s->user));
		util_strlcpy(s->cert_fp, c->who.cert_fp, sizeof(s->cert_fp));
		util_strlcpy(s->version, version, sizeof(s->version));
		s->size = (size_t)size;
		s->got = 0;
	}
	if (strcmp(s->version, version) != 0 || s->size != size ||
	    offset != s->got || plen > s->size - s->got) {
		snprintf(msg, sizeof(msg), "offset: the next part of %s starts "
		    "at %zu of %zu bytes; start again at offset 0 for another "
		    "text", s->version, s->got, s->size);
		stage_clear(s);
		reqconn_send_error(c, m->id, "bad_value", msg, "offset", 0);
		return;
	}
	memcpy(s->buf + s->got, part, plen);
	s->got += plen;
	s->touched = now;
	if (s->got < s->size) {
		wire_msg_init(&a, WIRE_OP_REGISTER_STAGED, m->id);
		wire_msg_set_text(&a, "version", version);
		wire_msg_set_uint(&a, "received", s->got);
		reqconn_send(c, &a);
		wire_msg_clear(&a);
		return;
	}

	/* The whole text: check it as --check-config would. */
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		stage_clear(s);
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of memory; try again later", NULL, 30);
		return;
	}
	j->buf = s->buf;
	j->len = s->size;
	s->buf = NULL;
	stage_clear(s);
	err[0] = '\0';
	if (regadmin_sha256((const char *)j->buf, j->len, sha, err,
	    sizeof(err)) != 0 || strcmp(sha, version) != 0) {
		snprintf(msg, sizeof(msg), "受け取った台帳の SHA-256 が一致しま"
		    "せん / the text received has SHA-256 %s, not %s; send it "
		    "again", sha, version);
		regapproval_refuse(c, m, "register_hash_mismatch", msg);
		goto drop;
	}
	if (regadmin_check_text(b->cfg, "proposed register",
	    (const char *)j->buf, j->len, NULL, &p, NULL, err,
	    sizeof(err)) != 0) {
		snprintf(msg, sizeof(msg), "台帳に誤りがあるため提案できません"
		    " / the register has an error, nothing was stored: %s",
		    err);
		regapproval_refuse(c, m, "register_invalid", msg);
		goto drop;
	}
	policy_free(p);
	j->v.summary = summary_against(ra->rd, (const char *)j->buf, j->len,
	    &ch, err, sizeof(err));
	if (j->v.summary == NULL) {
		regdiff_changes_free(&ch);
		reqconn_send_error(c, m->id, "unavailable", "the broker could "
		    "not compare the proposal; try again later", NULL, 30);
		goto drop;
	}
	required = 0;
	(void)policy_register_approvers(b->policy, &group, &required);
	j->required = required;
	j->c = c;
	j->id = m->id;
	util_strlcpy(j->v.sha256, sha, sizeof(j->v.sha256));
	util_strlcpy(j->v.proposer, c->who.user, sizeof(j->v.proposer));
	util_strlcpy(j->v.reason, reason, sizeof(j->v.reason));
	j->v.emergency = ev != NULL && ev->type == WIRE_T_BOOL && ev->u != 0;
	util_strlcpy(j->v.state, REGSTORE_PROPOSED, sizeof(j->v.state));
	util_strlcpy(j->v.base, policy_hash(b->policy), sizeof(j->v.base));
	j->v.created = (int64_t)now;
	j->v.expires = (int64_t)now + (int64_t)b->cfg->register_proposal_ttl;
	auditrec_init(&j->rec, "register_proposed", &c->who, c->peer);
	auditrec_text(&j->rec, "version", sha);
	auditrec_text(&j->rec, "register", j->v.base);
	auditrec_text(&j->rec, "reason", reason);
	auditrec_bool(&j->rec, "emergency", j->v.emergency);
	auditrec_uint(&j->rec, "expires", (uint64_t)j->v.expires);
	auditrec_uint(&j->rec, "interfaces_added", ch.nadded);
	auditrec_uint(&j->rec, "interfaces_removed", ch.nremoved);
	auditrec_uint(&j->rec, "interfaces_changed", ch.nchanged);
	auditrec_text(&j->rec, "added", ch.added);
	auditrec_text(&j->rec, "removed", ch.removed);
	auditrec_text(&j->rec, "changed", ch.changed);
	auditrec_text(&j->rec, "sections_changed", ch.sections);
	regdiff_changes_free(&ch);
	j->job.work = work_propose;
	j->job.done = done_propose;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(b->committer, &j->job);
	return;
drop:
	free(j->v.summary);
	free(j->buf);
	free(j);
}

/* ---- register_ls, register_show, register_diff ----------------------- */

struct read_item {
	struct regstore_version v;	/* summary owned; yaml for diff */
	unsigned approvals;
};

struct read_job {
	struct commit_job job;
	struct reqconn *c;
	uint64_t id;
	enum wire_op op;
	char state[16];			/* ls: "" for any */
	char prefix[UTIL_SHA256_HEX + 1];	/* show, diff */
	struct read_item *items;
	size_t nitems;
	struct regstore_vote votes[VOTES_MAX];
	size_t nvotes;
	int notfound;			/* STORE_NOTFOUND or STORE_EXISTS */
	char why[160];
};

static int
count_approvals(struct store *st, const char *version, unsigned *n,
    struct regstore_vote *votes, size_t *nvotes, char *err, size_t errlen)
{
	struct regstore_vote local[VOTES_MAX];
	size_t i, k;

	if (votes == NULL)
		votes = local;
	if (regstore_vote_list(st, version, votes, VOTES_MAX, &k, err,
	    errlen) != 0)
		return -1;
	*n = 0;
	for (i = 0; i < k; i++)
		if (strcmp(votes[i].vote, "approve") == 0)
			(*n)++;
	if (nvotes != NULL)
		*nvotes = k;
	return 0;
}

static int
collect_item(const struct regstore_version *v, void *arg)
{
	struct read_job *j = arg;
	struct read_item *it = &j->items[j->nitems];

	it->v = *v;
	it->v.yaml = NULL;
	if ((it->v.summary = strdup(v->summary)) == NULL)
		return -1;
	j->nitems++;
	return 0;
}

static int
work_read(struct commit_job *cj, struct commit_env *env)
{
	struct read_job *j = cj->arg;
	char sha[UTIL_SHA256_HEX + 1];
	size_t i;
	int rc;

	if (j->op == WIRE_OP_REGISTER_LS) {
		if ((j->items = calloc(LIST_MAX, sizeof(*j->items))) == NULL)
			return util_err(cj->err, sizeof(cj->err), "out of "
			    "memory");
		rc = regstore_each(env->store, j->state[0] != '\0' ? j->state :
		    NULL, LIST_MAX, collect_item, j, cj->err, sizeof(cj->err));
		if (rc != 0)
			return -1;
		for (i = 0; i < j->nitems; i++)
			if (count_approvals(env->store, j->items[i].v.sha256,
			    &j->items[i].approvals, NULL, NULL, cj->err,
			    sizeof(cj->err)) != 0)
				return -1;
		return 0;
	}
	rc = regstore_resolve(env->store, j->prefix, sha, j->why,
	    sizeof(j->why));
	if (rc == STORE_NOTFOUND || rc == STORE_EXISTS) {
		j->notfound = rc;
		return 0;
	}
	if (rc != 0)
		return util_err(cj->err, sizeof(cj->err), "%s", j->why);
	if ((j->items = calloc(1, sizeof(*j->items))) == NULL)
		return util_err(cj->err, sizeof(cj->err), "out of memory");
	if (regstore_get(env->store, sha, j->op == WIRE_OP_REGISTER_DIFF,
	    &j->items[0].v, cj->err, sizeof(cj->err)) != 0)
		return -1;
	j->nitems = 1;
	return count_approvals(env->store, sha, &j->items[0].approvals,
	    j->votes, &j->nvotes, cj->err, sizeof(cj->err));
}

static void
read_job_free(struct read_job *j)
{
	size_t i;

	for (i = 0; i < j->nitems; i++)
		regstore_version_clear(&j->items[i].v);
	free(j->items);
	free(j);
}

static void
done_read(struct commit_job *cj, int status)
{
	struct read_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct regapproval *ra = c->b->regapproval;
	const char *in_force = policy_hash(c->b->policy), *group;
	struct regdiff_changes ch;
	struct wire_msg a;
	char err[256], *sum;
	unsigned required = 0;
	size_t i;

	(void)policy_register_approvers(c->b->policy, &group, &required);
	if (reqconn_ending(c))
		goto out;
	if (status != 0) {
		log_kv("error", "register_read", "reason=\"%s\"", cj->err);
		reqconn_send_error(c, j->id, "unavailable", "the broker could "
		    "not read the register versions; try again later", NULL,
		    30);
		goto out;
	}
	if (j->notfound) {
		reqconn_send_error(c, j->id, j->notfound == STORE_NOTFOUND ?
		    "not_found" : "bad_value", j->notfound == STORE_NOTFOUND ?
		    "その版の台帳はありません / no register version begins "
		    "with these digits" : "複数の版が一致します。桁を増やして"
		    "ください / more than one version begins with these digits; "
		    "give more of them", "version", 0);
		goto out;
	}
	if (j->op == WIRE_OP_REGISTER_DIFF) {
		/* Against the version in force now, which may not be the one
		 * the proposal was based on. */
		const struct regstore_version *v = &j->items[0].v;

		err[0] = '\0';
		sum = summary_against(ra->rd, v->yaml, v->yaml_len, &ch, err,
		    sizeof(err));
		regdiff_changes_free(&ch);
		if (sum == NULL) {
			reqconn_send_error(c, j->id, "unavailable", "the broker "
			    "could not compare the versions", NULL, 0);
			goto out;
		}
		version_answer(&a, j->id, v, j->items[0].approvals,
		    v->emergency ? 1 : required, in_force, sum);
		wire_msg_set_text(&a, "against", in_force);
		free(sum);
		reqconn_send(c, &a);
		wire_msg_clear(&a);
		goto out;
	}
	for (i = 0; i < j->nitems; i++) {
		const struct regstore_version *v = &j->items[i].v;

		version_answer(&a, j->id, v, j->items[i].approvals,
		    v->emergency ? 1 : required, in_force,
		    j->op == WIRE_OP_REGISTER_SHOW ? v->summary : NULL);
		reqconn_send(c, &a);
		wire_msg_clear(&a);
	}
	if (j->op == WIRE_OP_REGISTER_SHOW)
		for (i = 0; i < j->nvotes; i++) {
			wire_msg_init(&a, WIRE_OP_REGISTER_VOTE, j->id);
			wire_msg_set_text(&a, "version", j->items[0].v.sha256);
			wire_msg_set_text(&a, "approver", j->votes[i].approver);
			wire_msg_set_text(&a, "vote", j->votes[i].vote);
			wire_msg_set_text(&a, "comment", j->votes[i].comment);
			wire_msg_set_uint(&a, "at", (uint64_t)j->votes[i].at);
			reqconn_send(c, &a);
			wire_msg_clear(&a);
		}
	wire_msg_init(&a, WIRE_OP_LISTED, j->id);
	wire_msg_set_uint(&a, "count", j->op == WIRE_OP_REGISTER_SHOW ?
	    j->nvotes : j->nitems);
	reqconn_send(c, &a);
	wire_msg_clear(&a);
out:
	read_job_free(j);
	reqconn_done_waiting(c);
}

static void
submit_read(struct reqconn *c, const struct wire_msg *m)
{
	const char *state = wire_msg_text(m, "state");
	const char *version = wire_msg_text(m, "version");
	struct read_job *j;

	if (ra_of(c, m) == NULL || !may_read(c, m))
		return;
	if (state != NULL && strcmp(state, REGSTORE_PROPOSED) != 0 &&
	    strcmp(state, REGSTORE_ACTIVE) != 0 &&
	    strcmp(state, REGSTORE_SUPERSEDED) != 0 &&
	    strcmp(state, REGSTORE_REJECTED) != 0 &&
	    strcmp(state, REGSTORE_EXPIRED) != 0 &&
	    strcmp(state, REGSTORE_EMERGENCY) != 0) {
		reqconn_send_error(c, m->id, "bad_value", "state: proposed, "
		    "active, superseded, rejected, expired or emergency",
		    "state", 0);
		return;
	}
	if (version != NULL && !is_prefix(version)) {
		reqconn_send_error(c, m->id, "bad_value", VERSION_FORM,
		    "version", 0);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of memory; try again later", NULL, 30);
		return;
	}
	j->c = c;
	j->id = m->id;
	j->op = m->op;
	if (state != NULL)
		util_strlcpy(j->state, state, sizeof(j->state));
	if (version != NULL)
		util_strlcpy(j->prefix, version, sizeof(j->prefix));
	j->job.work = work_read;
	j->job.done = done_read;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

void
regapproval_handle_ls(struct reqconn *c, const struct wire_msg *m)
{
	submit_read(c, m);
}

void
regapproval_handle_show(struct reqconn *c, const struct wire_msg *m)
{
	submit_read(c, m);
}

/* ---- activation (shared by votes and the sweep) ------------------------ */

/* What a job that changes the version in force hands back to the loop. */
struct swap {
	struct policy *policy;		/* the new register in force */
	struct regdiff *rd;
};

static void
swap_apply(struct regapproval *ra, struct swap *sw, const char *why)
{
	struct broker *b = ra->b;
	char old[UTIL_SHA256_HEX + 1];

	if (sw->policy == NULL)
		return;
	util_strlcpy(old, policy_hash(b->policy), sizeof(old));
	/* As a reload does: on the loop, between two decisions, so every
	 * decision after this one uses the new version and none is split. */
	policy_free(b->policy);
	b->policy = sw->policy;
	regdiff_free(ra->rd);
	ra->rd = sw->rd;
	log_kv("info", "register_in_force", "register_sha256=%s previous=%s "
	    "why=%s", policy_hash(b->policy), old, why);
	sw->policy = NULL;
	sw->rd = NULL;
}

static void
swap_free(struct swap *sw)
{
	policy_free(sw->policy);
	regdiff_free(sw->rd);
	memset(sw, 0, sizeof(*sw));
}

/* Loads the stored text of sha for the loop to swap in (commit thread:
 * loading is pure, and a text that no longer loads rolls the job back
 * instead of leaving the store and the broker apart). */
static int
swap_load(struct store *st, const char *sha, struct swap *sw, char *err,
    size_t errlen)
{
	struct regstore_version v;
	char name[96];
	int rc = -1;

	if (regstore_get(st, sha, 1, &v, err, errlen) != 0)
		goto out;
	snprintf(name, sizeof(name), "approved register %.12s", sha);
	if (policy_load_buffer(name, v.yaml, v.yaml_len, &sw->policy, err,
	    errlen) != 0)
		goto out;
	if (regdiff_new(name, v.yaml, v.yaml_len, &sw->rd, err, errlen) !=
	    0) {
		swap_free(sw);
		goto out;
	}
	rc = 0;
out:
	regstore_version_clear(&v);
	return rc;
}

/*
 * Makes v (state proposed) the version in force: state to (active or
 * emergency), the version in force until now superseded. *prev gets the
 * hash of that one.
 */
static int
activate(struct store *st, struct regstore_version *v, const char *to,
    int64_t now, int64_t confirm_by, struct swap *sw,
    char prev[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	struct regstore_version old;
	int rc;

	if (regstore_active(st, prev, NULL, err, errlen) != 0)
		return -1;
	if (regstore_get(st, prev, 0, &old, err, errlen) != 0) {
		regstore_version_clear(&old);
		return -1;
	}
	rc = regstore_set_state(st, prev, old.state, REGSTORE_SUPERSEDED, -1,
	    -1, now, NULL, err, errlen);
	regstore_version_clear(&old);
	if (rc != 0 ||
	    regstore_set_state(st, v->sha256, REGSTORE_PROPOSED, to, now,
	    confirm_by, -1, prev, err, errlen) != 0 ||
	    regstore_set_active(st, v->sha256, now, err, errlen) != 0 ||
	    swap_load(st, v->sha256, sw, err, errlen) != 0)
		return -1;
	util_strlcpy(v->state, to, sizeof(v->state));
	util_strlcpy(v->previous, prev, sizeof(v->previous));
	v->activated = now;
	v->confirm_by = confirm_by;
	return 0;
}

/* Undoes the emergency change v in force: v to state to (expired when
 * nobody confirmed it in time, rejected when a second approver refused
 * it), the version before it in force again. */
static int
revert(struct store *st, const struct regstore_version *v, const char *to,
    int64_t now, struct swap *sw, char *err, size_t errlen)
{
	if (v->previous[0] == '\0')
		return util_err(err, errlen, "register version %s has no "
		    "previous version to restore", v->sha256);
	if (regstore_set_state(st, v->sha256, REGSTORE_EMERGENCY, to, -1, -1,
	    now, NULL, err, errlen) != 0 ||
	    regstore_set_state(st, v->previous, REGSTORE_SUPERSEDED,
	    REGSTORE_ACTIVE, -1, -1, 0, NULL, err, errlen) != 0 ||
	    regstore_set_active(st, v->previous, now, err, errlen) != 0 ||
	    swap_load(st, v->previous, sw, err, errlen) != 0)
		return -1;
	return 0;
}

/* The approvers of version as "a,b" (for the audit record). */
static void
approvers_text(const struct regstore_vote *votes, size_t n, char *out,
    size_t outlen)
{
	size_t i, used = 0;
	int k;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (strcmp(votes[i].vote, "approve") != 0)
			continue;
		k = snprintf(out + used, outlen - used, "%s%s",
		    used > 0 ? "," : "", votes[i].approver);
		if (k < 0 || (size_t)k >= outlen - used)
			break;
		used += (size_t)k;
	}
}

/* ---- register_approve, register_reject ------------------------------- */

enum vote_result { VR_OK, VR_NOTFOUND, VR_AMBIGUOUS, VR_NOT_PENDING,
	VR_EXPIRED, VR_OWN, VR_VOTED, VR_STALE };

struct vote_job {
	struct commit_job job;
	struct reqconn *c;
	uint64_t id;
	struct principal who;
	char peer[64];
	char prefix[UTIL_SHA256_HEX + 1];
	int approve;
	char comment[STORE_TEXT_MAX + 1];
	unsigned required;		/* of the version in force */
	int64_t now;
	int64_t confirm_for;		/* seconds (register.emergency_confirm) */
	/* results */
	enum vote_result result;
	struct regstore_version v;
	unsigned approvals;
	char prev[UTIL_SHA256_HEX + 1];
	struct swap sw;
	const char *event;		/* the record written */
};

static int
work_vote(struct commit_job *cj, struct commit_env *env)
{
	struct vote_job *j = cj->arg;
	struct store *st = env->store;
	struct regstore_vote vote, votes[VOTES_MAX];
	struct auditrec rec;
	char sha[UTIL_SHA256_HEX + 1], who[VOTES_MAX * 66];
	size_t nvotes = 0;
	int rc, confirm, in_emergency;

	rc = regstore_resolve(st, j->prefix, sha, cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND || rc == STORE_EXISTS) {
		j->result = rc == STORE_NOTFOUND ? VR_NOTFOUND : VR_AMBIGUOUS;
		cj->err[0] = '\0';
		return 0;
	}
	if (rc != 0 || regstore_get(st, sha, 0, &j->v, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	in_emergency = strcmp(j->v.state, REGSTORE_EMERGENCY) == 0;
	confirm = in_emergency && j->approve;
	if (strcmp(j->v.state, REGSTORE_PROPOSED) != 0 && !in_emergency) {
		j->result = VR_NOT_PENDING;
		return 0;
	}
	if (!in_emergency && j->v.expires > 0 && j->v.expires <= j->now) {
		j->result = VR_EXPIRED;
		return 0;
	}
	if (strcmp(j->v.proposer, j->who.user) == 0) {
		j->result = VR_OWN;
		return 0;
	}
	if (j->approve && !in_emergency) {
		/* Approving a text written against an older version would
		 * silently undo what was approved since: it must be proposed
		 * again on top of the version in force. */
		char cur[UTIL_SHA256_HEX + 1];

		if (regstore_active(st, cur, NULL, cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
		if (strcmp(cur, j->v.base) != 0) {
			j->result = VR_STALE;
			return 0;
		}
	}
	memset(&vote, 0, sizeof(vote));
	util_strlcpy(vote.approver, j->who.user, sizeof(vote.approver));
	util_strlcpy(vote.vote, j->approve ? "approve" : "reject",
	    sizeof(vote.vote));
	util_strlcpy(vote.comment, j->comment, sizeof(vote.comment));
	vote.at = j->now;
	rc = regstore_vote_insert(st, sha, &vote, cj->err, sizeof(cj->err));
	if (rc == STORE_EXISTS) {
		j->result = VR_VOTED;
		cj->err[0] = '\0';
		return 0;
	}
	if (rc != 0 || count_approvals(st, sha, &j->approvals, votes, &nvotes,
	    cj->err, sizeof(cj->err)) != 0)
		return -1;
	approvers_text(votes, nvotes, who, sizeof(who));

	if (!j->approve && in_emergency) {
		/* The second person refuses an emergency change in force: it
		 * is undone now rather than at its deadline. */
		if (revert(st, &j->v, REGSTORE_REJECTED, j->now, &j->sw,
		    cj->err, sizeof(cj->err)) != 0)
			return -1;
		util_strlcpy(j->prev, j->v.previous, sizeof(j->prev));
		util_strlcpy(j->v.state, REGSTORE_REJECTED, sizeof(j->v.state));
		j->v.decided = j->now;
		j->event = "register_reverted";
	} else if (!j->approve) {
		if (regstore_set_state(st, sha, REGSTORE_PROPOSED,
		    REGSTORE_REJECTED, -1, -1, j->now, NULL, cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
		util_strlcpy(j->v.state, REGSTORE_REJECTED, sizeof(j->v.state));
		j->v.decided = j->now;
		j->event = "register_rejected";
	} else if (confirm) {
		/* The second person confirms an emergency change: it stays,
		 * and is no longer reverted. */
		if (regstore_set_state(st, sha, REGSTORE_EMERGENCY,
		    REGSTORE_ACTIVE, -1, -1, -1, NULL, cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
		util_strlcpy(j->v.state, REGSTORE_ACTIVE, sizeof(j->v.state));
		j->event = "register_confirmed";
	} else if (j->v.emergency) {
		if (activate(st, &j->v, REGSTORE_EMERGENCY, j->now, j->now +
		    j->confirm_for, &j->sw, j->prev, cj->err,
		    sizeof(cj->err)) != 0)
			return -1;
		j->event = "register_activated";
	} else if (j->required > 0 && j->approvals >= j->required) {
		if (activate(st, &j->v, REGSTORE_ACTIVE, j->now, 0, &j->sw,
		    j->prev, cj->err, sizeof(cj->err)) != 0)
			return -1;
		j->event = "register_activated";
	} else
		j->event = "register_approved";

	auditrec_init(&rec, j->event, &j->who, j->peer);
	auditrec_text(&rec, "version", sha);
	auditrec_text(&rec, "vote", vote.vote);
	auditrec_text(&rec, "comment", j->comment);
	auditrec_uint(&rec, "approvals", j->approvals);
	auditrec_uint(&rec, "required", j->v.emergency ? 1 : j->required);
	auditrec_text(&rec, "approvers", who);
	auditrec_text(&rec, "proposer", j->v.proposer);
	auditrec_text(&rec, "reason", j->v.reason);
	auditrec_bool(&rec, "emergency", j->v.emergency);
	if (j->sw.policy != NULL && strcmp(j->event, "register_reverted") ==
	    0) {
		/* As the sweep's revert: the version in force again, and the
		 * one undone. */
		auditrec_text(&rec, "register", j->prev);
		auditrec_text(&rec, "register_previous", sha);
	} else if (j->sw.policy != NULL) {
		/* Both hashes: the version now in force and the one before. */
		auditrec_text(&rec, "register", sha);
		auditrec_text(&rec, "register_previous", j->prev);
		auditrec_text(&rec, "summary", j->v.summary);
		if (j->v.confirm_by > 0)
			auditrec_uint(&rec, "confirm_by",
			    (uint64_t)j->v.confirm_by);
	}
	if (auditrec_append(&rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err)) != 0) {
		swap_free(&j->sw);
		return -1;
	}
	return 0;
}

static void
done_vote(struct commit_job *cj, int status)
{
	struct vote_job *j = cj->arg;
	struct reqconn *c = j->c;
	struct regapproval *ra = c->b->regapproval;
	struct wire_msg a;
	static const struct {
		const char *code, *msg;
	} refusals[] = {
		[VR_NOTFOUND] = { "not_found", "その版の台帳はありません / no "
		    "register version begins with these digits" },
		[VR_AMBIGUOUS] = { "bad_value", "複数の版が一致します。桁を増や"
		    "してください / more than one version begins with these "
		    "digits; give more of them" },
		[VR_NOT_PENDING] = { "register_not_pending", "この版は承認待ち"
		    "ではありません / this version is not waiting for "
		    "approval" },
		[VR_EXPIRED] = { "register_expired", "この提案は期限切れです。"
		    "もう一度提案してください / this proposal has expired; "
		    "propose it again" },
		[VR_OWN] = { "own_request", "自分の提案は承認できません。別の"
		    "承認者が必要です / you proposed this version: another "
		    "approver must decide" },
		[VR_VOTED] = { "already_voted", "この版には既に投票しています "
		    "/ you have voted on this version already" },
		[VR_STALE] = { "register_stale", "この提案の後に別の版が有効に"
		    "なりました。現在の版をもとに提案し直してください / another "
		    "version came into force after this one was proposed; "
		    "propose the change again on top of the version in force" },
	};

	if (status != 0) {
		swap_free(&j->sw);
		log_kv("error", "register_vote", "reason=\"%s\"", cj->err);
		if (!reqconn_ending(c))
			reqconn_send_error(c, j->id, "unavailable", "the broker "
			    "could not record the decision; try again later",
			    NULL, 30);
		goto out;
	}
	/* Durable: the version is in force whether or not the approver is
	 * still connected. */
	if (j->sw.policy != NULL && ra != NULL)
		swap_apply(ra, &j->sw, strcmp(j->event, "register_reverted") ==
		    0 ? "emergency_rejected" : j->v.emergency ? "emergency" :
		    "approved");
	swap_free(&j->sw);
	if (reqconn_ending(c))
		goto out;
	if (j->result != VR_OK) {
		struct wire_msg fake;

		wire_msg_init(&fake, j->approve ? WIRE_OP_REGISTER_APPROVE :
		    WIRE_OP_REGISTER_REJECT, j->id);
		wire_msg_set_text(&fake, "version", j->prefix);
		regapproval_refuse(c, &fake, refusals[j->result].code,
		    refusals[j->result].msg);
		wire_msg_clear(&fake);
		goto out;
	}
	log_kv("info", j->event, "user=%s version=%s approvals=%u state=%s",
	    j->who.user, j->v.sha256, j->approvals, j->v.state);
	version_answer(&a, j->id, &j->v, j->approvals, j->v.emergency ? 1 :
	    j->required, policy_hash(c->b->policy), NULL);
	reqconn_send(c, &a);
	wire_msg_clear(&a);
out:
	regstore_version_clear(&j->v);
	free(j);
	reqconn_done_waiting(c);
}

void
regapproval_handle_vote(struct reqconn *c, const struct wire_msg *m)
{
	const char *version = wire_msg_text(m, "version");
	const char *comment = wire_msg_text(m, "comment");
	struct vote_job *j;
	unsigned required;

	if (ra_of(c, m) == NULL)
		return;
	if (!is_approver(c, &required)) {
		regapproval_refuse(c, m, "not_register_approver", required == 0 ?
		    "現在の台帳に承認者グループ (register_approvers) がないため、"
		    "変更を承認できません / the register in force names no "
		    "register_approvers, so no change can be approved" :
		    "台帳の変更を承認できるのは、現在の台帳の承認者グループ "
		    "(register_approvers) のメンバーだけです / only members of "
		    "the register_approvers group of the register in force "
		    "decide on register changes");
		return;
	}
	if (!is_prefix(version)) {
		reqconn_send_error(c, m->id, "bad_value", VERSION_FORM,
		    "version", 0);
		return;
	}
	if (comment != NULL && has_control(comment)) {
		reqconn_send_error(c, m->id, "bad_value", "comment: no control "
		    "characters", "comment", 0);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reqconn_send_error(c, m->id, "unavailable", "the broker is out "
		    "of memory; try again later", NULL, 30);
		return;
	}
	j->c = c;
	j->id = m->id;
	j->who = c->who;
	util_strlcpy(j->peer, c->peer, sizeof(j->peer));
	util_strlcpy(j->prefix, version, sizeof(j->prefix));
	j->approve = m->op == WIRE_OP_REGISTER_APPROVE;
	if (comment != NULL)
		util_strlcpy(j->comment, comment, sizeof(j->comment));
	j->required = required;
	j->now = (int64_t)broker_now(c->b);
	j->confirm_for = (int64_t)c->b->cfg->register_emergency_confirm;
	j->job.work = work_vote;
	j->job.done = done_vote;
	j->job.arg = j;
	reqconn_wait(c);
	committer_submit(c->b->committer, &j->job);
}

/* ---- the sweep: expired proposals, unconfirmed emergencies ------------ */

struct sweep_job {
	struct commit_job job;
	struct regapproval *ra;
	int64_t now;
	struct swap sw;
	size_t expired;
	char reverted[UTIL_SHA256_HEX + 1];
	char restored[UTIL_SHA256_HEX + 1];
};

struct expire_list {
	char sha[SWEEP_EXPIRE_MAX][UTIL_SHA256_HEX + 1];
	size_t n;
	int64_t now;
};

static int
collect_expired(const struct regstore_version *v, void *arg)
{
	struct expire_list *l = arg;

	if (v->expires > 0 && v->expires <= l->now && l->n < SWEEP_EXPIRE_MAX)
		util_strlcpy(l->sha[l->n++], v->sha256, UTIL_SHA256_HEX + 1);
	return 0;
}

static int
work_sweep(struct commit_job *cj, struct commit_env *env)
{
	struct sweep_job *j = cj->arg;
	struct store *st = env->store;
	struct expire_list *l;
	struct regstore_version v;
	struct auditrec rec;
	char cur[UTIL_SHA256_HEX + 1];
	size_t i;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return util_err(cj->err, sizeof(cj->err), "out of memory");
	l->now = j->now;
	if (regstore_each(st, REGSTORE_PROPOSED, 1000, collect_expired, l,
	    cj->err, sizeof(cj->err)) != 0)
		goto fail;
	for (i = 0; i < l->n; i++) {
		if (regstore_get(st, l->sha[i], 0, &v, cj->err,
		    sizeof(cj->err)) != 0 ||
		    regstore_set_state(st, l->sha[i], REGSTORE_PROPOSED,
		    REGSTORE_EXPIRED, -1, -1, j->now, NULL, cj->err,
		    sizeof(cj->err)) != 0) {
			regstore_version_clear(&v);
			goto fail;
		}
		auditrec_init(&rec, "register_expired", NULL, NULL);
		auditrec_text(&rec, "version", l->sha[i]);
		auditrec_text(&rec, "proposer", v.proposer);
		auditrec_text(&rec, "reason", v.reason);
		auditrec_uint(&rec, "expires", (uint64_t)v.expires);
		regstore_version_clear(&v);
		if (auditrec_append(&rec, env->audit, time(NULL), cj->err,
		    sizeof(cj->err)) != 0)
			goto fail;
		j->expired++;
	}
	free(l);
	l = NULL;

	/* An emergency change nobody confirmed in time: the version before
	 * it is in force again. */
	rc = regstore_active(st, cur, NULL, cj->err, sizeof(cj->err));
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0 || regstore_get(st, cur, 0, &v, cj->err,
	    sizeof(cj->err)) != 0)
		goto fail;
	if (strcmp(v.state, REGSTORE_EMERGENCY) != 0 || v.confirm_by > j->now ||
	    v.previous[0] == '\0') {
		regstore_version_clear(&v);
		return 0;
	}
	if (revert(st, &v, REGSTORE_EXPIRED, j->now, &j->sw, cj->err,
	    sizeof(cj->err)) != 0) {
		regstore_version_clear(&v);
		goto fail;
	}
	util_strlcpy(j->reverted, cur, sizeof(j->reverted));
	util_strlcpy(j->restored, v.previous, sizeof(j->restored));
	auditrec_init(&rec, "register_reverted", NULL, NULL);
	auditrec_text(&rec, "version", cur);
	auditrec_text(&rec, "register", v.previous);
	auditrec_text(&rec, "register_previous", cur);
	auditrec_text(&rec, "proposer", v.proposer);
	auditrec_text(&rec, "reason", v.reason);
	auditrec_uint(&rec, "confirm_by", (uint64_t)v.confirm_by);
	regstore_version_clear(&v);
	if (auditrec_append(&rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err)) != 0) {
		swap_free(&j->sw);
		return -1;
	}
	return 0;
fail:
	free(l);
	swap_free(&j->sw);
	return -1;
}

static void
done_sweep(struct commit_job *cj, int status)
{
	struct sweep_job *j = cj->arg;

	if (status != 0)
		log_kv("error", "register_sweep", "reason=\"%s\"", cj->err);
	else {
		if (j->expired > 0)
			log_kv("info", "register_expired", "proposals=%zu",
			    j->expired);
		if (j->sw.policy != NULL) {
			log_kv("warn", "register_reverted", "version=%s "
			    "restored=%s reason=\"emergency change not "
			    "confirmed in time\"", j->reverted, j->restored);
			swap_apply(j->ra, &j->sw, "emergency_not_confirmed");
		}
	}
	swap_free(&j->sw);
	j->ra->sweeping = 0;
	free(j);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct regapproval *ra = arg;
	struct sweep_job *j;

	(void)fd;
	(void)what;
	if (ra->sweeping || ra->b->shutting_down || ra->b->committer == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->ra = ra;
	j->now = (int64_t)broker_now(ra->b);
	j->job.work = work_sweep;
	j->job.done = done_sweep;
	j->job.arg = j;
	ra->sweeping = 1;
	committer_submit(ra->b->committer, &j->job);
}

int
regapproval_start(struct broker *b, struct store *st, char *err,
    size_t errlen)
{
	struct regapproval *ra;
	struct timeval tv = { SWEEP_INTERVAL, 0 };
	char *buf = NULL, sha[UTIL_SHA256_HEX + 1];
	size_t len = 0;

	b->regapproval = NULL;
	if (!b->cfg->register_approved)
		return 0;
	if ((ra = calloc(1, sizeof(*ra))) == NULL)
		return util_err(err, errlen, "out of memory");
	ra->b = b;
	if (regadmin_active_text(st, &buf, &len, sha, err, errlen) != 0 ||
	    regdiff_new("register", buf, len, &ra->rd, err, errlen) != 0)
		goto fail;
	free(buf);
	buf = NULL;
	if ((ra->sweep_ev = event_new(b->base, -1, EV_PERSIST, on_sweep,
	    ra)) == NULL || event_add(ra->sweep_ev, &tv) != 0) {
		util_err(err, errlen, "cannot start the register sweep timer");
		goto fail;
	}
	/* The first sweep as soon as the loop runs: deadlines that passed
	 * while the broker was stopped are applied before anything else. */
	event_active(ra->sweep_ev, EV_TIMEOUT, 0);
	b->regapproval = ra;
	return 0;
fail:
	free(buf);
	regapproval_free(ra);
	return -1;
}

void
regapproval_free(struct regapproval *ra)
{
	size_t i;

	if (ra == NULL)
		return;
	if (ra->sweep_ev != NULL)
		event_free(ra->sweep_ev);
	for (i = 0; i < STAGE_MAX; i++)
		stage_clear(&ra->stage[i]);
	regdiff_free(ra->rd);
	free(ra);
}
