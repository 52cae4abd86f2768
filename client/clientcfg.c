/*
 * clientcfg — see clientcfg.h.
 *
 * The file is small and flat; yamlnode does the YAML and the line numbers.
 * Every check here fails closed: a typo in a key, a path that cannot be
 * resolved or a malformed broker address stops the client before it opens
 * a connection, so it never talks to a broker it was not meant to.
 */
#include "client/clientcfg.h"
#include "client/i18n.h"
#include "client/output.h"
#include "lib/util.h"
#include "lib/yamlnode.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const cfg_keys[] = {
	"broker", "server_name", "ca", "cert", "key", "key_passphrase_file",
	"timeout", NULL
};

void
clientcfg_free(struct clientcfg *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->file);
	free(cfg->broker);
	free(cfg->host);
	free(cfg->port);
	free(cfg->server_name);
	free(cfg->ca);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->key_passphrase_file);
	memset(cfg, 0, sizeof(*cfg));
}

static char *
dupstr(const char *s, struct i18n_msg *err)
{
	char *p = strdup(s);

	if (p == NULL)
		i18n_msg_set(err, N_("out of memory"));
	return p;
}

int
clientcfg_split_broker(const char *broker, char **host, char **port,
    struct i18n_msg *err)
{
	const char *h, *hend, *p;
	size_t hlen;
	char *end;
	unsigned long n;

	*host = *port = NULL;
	if (broker == NULL || broker[0] == '\0')
		return i18n_msg_set(err, N_("broker address is empty"));
	if (broker[0] == '[') {
		h = broker + 1;
		hend = strchr(h, ']');
		if (hend == NULL || hend[1] != ':')
			return i18n_msg_set(err, N_("broker '%s': expected "
			    "[address]:port"), broker);
		p = hend + 2;
	} else {
		h = broker;
		hend = strrchr(broker, ':');
		if (hend == NULL)
			return i18n_msg_set(err, N_("broker '%s': expected "
			    "host:port"), broker);
		if (memchr(h, ':', (size_t)(hend - h)) != NULL)
			return i18n_msg_set(err, N_("broker '%s': write an "
			    "IPv6 address in brackets, [address]:port"),
			    broker);
		p = hend + 1;
	}
	hlen = (size_t)(hend - h);
	if (hlen == 0 || hlen > CLIENTCFG_MAX_HOST)
		return i18n_msg_set(err, N_("broker '%s': bad host part"),
		    broker);
	if (*p < '0' || *p > '9' || strlen(p) > 5)
		return i18n_msg_set(err, N_("broker '%s': bad port"), broker);
	errno = 0;
	n = strtoul(p, &end, 10);
	if (errno != 0 || *end != '\0' || n == 0 || n > 65535)
		return i18n_msg_set(err, N_("broker '%s': port must be "
		    "1..65535"), broker);
	*host = strndup(h, hlen);
	*port = strdup(p);
	if (*host == NULL || *port == NULL) {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return i18n_msg_set(err, N_("out of memory"));
	}
	return 0;
}

char *
clientcfg_resolve_path(const char *cfgfile, const char *path,
    const char *home, struct i18n_msg *err)
{
	const char *slash;
	char *out;
	int n;

	if (path == NULL || path[0] == '\0') {
		i18n_msg_set(err, N_("empty path"));
		return NULL;
	}
	if (path[0] == '/')
		return dupstr(path, err);
	if (path[0] == '~' && path[1] == '/') {
		if (home == NULL || home[0] != '/') {
			i18n_msg_set(err, N_("'%s': HOME is not set to an "
			    "absolute directory"), path);
			return NULL;
		}
		n = asprintf(&out, "%s%s", home, path + 1);
	} else if (cfgfile != NULL &&
	    (slash = strrchr(cfgfile, '/')) != NULL) {
		n = asprintf(&out, "%.*s/%s", (int)(slash - cfgfile), cfgfile,
		    path);
	} else
		return dupstr(path, err);
	if (n < 0) {
		i18n_msg_set(err, N_("out of memory"));
		return NULL;
	}
	if (strlen(out) > CLIENTCFG_MAX_PATH) {
		free(out);
		i18n_msg_set(err, N_("'%s': path too long"), path);
		return NULL;
	}
	return out;
}

/* Reads one optional string key; paths are resolved against the file. */
static int
read_key(const struct yamlnode_doc *doc, const char *key, int is_path,
    const char *home, char **dst, struct i18n_msg *err)
{
	const char *v = NULL;
	char yerr[448];
	int rc;

	rc = yamlnode_get_str(doc, doc->root, key, CLIENTCFG_MAX_PATH, &v,
	    yerr, sizeof(yerr));
	if (rc < 0)
		return i18n_msg_set(err, "%s", yerr);
	if (rc != 0)
		return 0;
	if (v[0] == '\0') {
		const struct yamlnode *n = yamlnode_get(doc->root, key);

		return i18n_msg_set(err, N_("%s:%u: field '%s': is empty"),
		    doc->path, n != NULL ? n->line : 0, key);
	}
	free(*dst);
	if (is_path) {
		struct i18n_msg sub;

		*dst = clientcfg_resolve_path(doc->path, v, home, &sub);
		if (*dst == NULL) {
			const struct yamlnode *n = yamlnode_get(doc->root, key);
			unsigned line = n != NULL ? n->line : 0;

			snprintf(err->en, sizeof(err->en), "%s:%u: field '%s': "
			    "%.256s", doc->path, line, key, sub.en);
			snprintf(err->text, sizeof(err->text), _("%s:%u: field "
			    "'%s': %s"), doc->path, line, key, sub.text);
			return -1;
		}
	} else if ((*dst = dupstr(v, err)) == NULL)
		return -1;
	return 0;
}

static int
read_file(const char *path, const char *home, struct clientcfg *cfg,
    struct i18n_msg *err)
{
	struct yamlnode_doc *doc = NULL;
	char yerr[448];
	uint64_t timeout;
	int rc = -1;

	if (yamlnode_load_file(path, &doc, yerr, sizeof(yerr)) != 0)
		return i18n_msg_set(err, "%s", yerr);
	if (doc->root == NULL) {
		rc = 0;		/* an empty file sets nothing */
		goto done;
	}
	if (doc->root->kind != YAMLNODE_MAP) {
		i18n_msg_set(err, N_("%s:%u: expected a mapping of settings "
		    "(broker, ca, cert, key, ...)"), path, doc->root->line);
		goto done;
	}
	if (yamlnode_check_keys(doc, doc->root, "client", cfg_keys, yerr,
	    sizeof(yerr)) != 0) {
		i18n_msg_set(err, "%s", yerr);
		goto done;
	}
	if (read_key(doc, "broker", 0, home, &cfg->broker, err) != 0 ||
	    read_key(doc, "server_name", 0, home, &cfg->server_name,
	    err) != 0 ||
	    read_key(doc, "ca", 1, home, &cfg->ca, err) != 0 ||
	    read_key(doc, "cert", 1, home, &cfg->cert, err) != 0 ||
	    read_key(doc, "key", 1, home, &cfg->key, err) != 0 ||
	    read_key(doc, "key_passphrase_file", 1, home,
	    &cfg->key_passphrase_file, err) != 0)
		goto done;
	switch (yamlnode_get_duration(doc, doc->root, "timeout", &timeout,
	    yerr, sizeof(yerr))) {
	case 0:
		if (timeout == 0 || timeout > CLIENTCFG_MAX_TIMEOUT) {
			const struct yamlnode *n = yamlnode_get(doc->root,
			    "timeout");

			i18n_msg_set(err, N_("%s:%u: field 'timeout': must be "
			    "1..%u seconds"), path, n != NULL ? n->line : 0,
			    CLIENTCFG_MAX_TIMEOUT);
			goto done;
		}
		cfg->timeout = (unsigned)timeout;
		break;
	case 1:
		break;
	default:
		i18n_msg_set(err, "%s", yerr);
		goto done;
	}
	rc = 0;
done:
	yamlnode_free(doc);
	return rc;
}

static int
overlay(char **dst, const char *flag, struct i18n_msg *err)
{
	if (flag == NULL)
		return 0;
	if (flag[0] == '\0')
		return i18n_msg_set(err, N_("empty value given on the command "
		    "line"));
	free(*dst);
	*dst = dupstr(flag, err);
	return *dst == NULL ? -1 : 0;
}

int
clientcfg_load(const struct clientcfg_flags *flags,
    const struct clientcfg_env *env, struct clientcfg *cfg,
    struct i18n_msg *err)
{
	const char *file = NULL, *home = env->home;
	char *defpath = NULL, missing[64];
	int explicit = 1;
	struct stat st;

	memset(cfg, 0, sizeof(*cfg));
	if (home != NULL && home[0] != '/')
		home = NULL;
	if (flags->config != NULL)
		file = flags->config;
	else if (env->sekisho_config != NULL && env->sekisho_config[0] != '\0')
		file = env->sekisho_config;
	else if (home != NULL) {
		if (asprintf(&defpath, "%s/.config/sekisho/client.yaml",
		    home) < 0) {
			defpath = NULL;
			i18n_msg_set(err, N_("out of memory"));
			goto fail;
		}
		file = defpath;
		explicit = 0;
	}

	if (file != NULL) {
		if (!explicit && stat(file, &st) != 0 && errno == ENOENT) {
			/* No default file: fine if the flags say it all. */
			file = NULL;
		} else {
			if (read_file(file, home, cfg, err) != 0)
				goto fail;
			if ((cfg->file = dupstr(file, err)) == NULL)
				goto fail;
		}
	}

	if (overlay(&cfg->broker, flags->broker, err) != 0 ||
	    overlay(&cfg->server_name, flags->server_name, err) != 0 ||
	    overlay(&cfg->ca, flags->ca, err) != 0 ||
	    overlay(&cfg->cert, flags->cert, err) != 0 ||
	    overlay(&cfg->key, flags->key, err) != 0 ||
	    overlay(&cfg->key_passphrase_file, flags->key_passphrase_file,
	    err) != 0)
		goto fail;
	if (flags->timeout != 0)
		cfg->timeout = flags->timeout;
	if (cfg->timeout == 0)
		cfg->timeout = CLIENTCFG_DEFAULT_TIMEOUT;

	missing[0] = '\0';
	if (cfg->broker == NULL)
		strcat(missing, ", broker");
	if (cfg->ca == NULL)
		strcat(missing, ", ca");
	if (cfg->cert == NULL)
		strcat(missing, ", cert");
	if (cfg->key == NULL)
		strcat(missing, ", key");
	if (missing[0] != '\0') {
		if (cfg->file != NULL)
			i18n_msg_set(err, N_("%s: missing setting(s) %s (the "
			    "client needs broker, ca, cert and key)"),
			    cfg->file, missing + 2);
		else if (defpath != NULL)
			i18n_msg_set(err, N_("no configuration: %s does not "
			    "exist and no flag gives %s; create it with the keys "
			    "broker, ca, cert and key, or pass --config FILE"),
			    defpath, missing + 2);
		else
			i18n_msg_set(err, N_("no configuration (HOME is not "
			    "set) and no flag gives %s; pass --config FILE"),
			    missing + 2);
		goto fail;
	}

	if (clientcfg_split_broker(cfg->broker, &cfg->host, &cfg->port,
	    err) != 0)
		goto fail;
	if (cfg->server_name == NULL &&
	    (cfg->server_name = dupstr(cfg->host, err)) == NULL)
		goto fail;
	free(defpath);
	return 0;
fail:
	free(defpath);
	clientcfg_free(cfg);
	return -1;
}

int
clientcfg_option(struct clientcfg_flags *flags, int c, const char *value,
    struct i18n_msg *err)
{
	char shown[128];
	uint64_t v;

	switch (c) {
	case CLIENTCFG_OPT_CONFIG:
		flags->config = value;
		return 0;
	case CLIENTCFG_OPT_BROKER:
		flags->broker = value;
		return 0;
	case CLIENTCFG_OPT_SERVER_NAME:
		flags->server_name = value;
		return 0;
	case CLIENTCFG_OPT_CA:
		flags->ca = value;
		return 0;
	case CLIENTCFG_OPT_CERT:
		flags->cert = value;
		return 0;
	case CLIENTCFG_OPT_KEY:
		flags->key = value;
		return 0;
	case CLIENTCFG_OPT_KEY_PASSPHRASE_FILE:
		flags->key_passphrase_file = value;
		return 0;
	case CLIENTCFG_OPT_TIMEOUT:
		if (util_parse_duration(value, &v) != 0 || v == 0 ||
		    v > CLIENTCFG_MAX_TIMEOUT)
			return i18n_msg_set(err, N_("--timeout '%s': give 1 to "
			    "%d seconds"), output_sanitize(value, shown,
			    sizeof(shown)), CLIENTCFG_MAX_TIMEOUT);
		flags->timeout = (unsigned)v;
		return 0;
	default:
		return i18n_msg_set(err, N_("not a connection option"));
	}
}
