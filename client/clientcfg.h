/*
 * clientcfg — where the sekisho client connects and with which credentials.
 *
 * Settings come from a YAML file (see docs/client.md) and from command-line
 * flags; a flag always wins over the file. The file is the one named by
 * --config, else $SEKISHO_CONFIG, else ~/.config/sekisho/client.yaml.
 * Relative paths in the file are taken relative to the file's directory (so
 * a configuration can be copied with its certificates); a leading "~/" means
 * the user's home directory. Paths given as flags are used as given.
 *
 * Ownership: every string in struct clientcfg is malloc'd and owned by the
 * struct; clientcfg_free releases them.
 */
#ifndef SEKISHO_CLIENTCFG_H
#define SEKISHO_CLIENTCFG_H

#include "client/i18n.h"

#include <stddef.h>

#define CLIENTCFG_DEFAULT_TIMEOUT 30	/* seconds */
#define CLIENTCFG_MAX_TIMEOUT 3600
#define CLIENTCFG_MAX_PATH 4096
#define CLIENTCFG_MAX_HOST 255

struct clientcfg {
	char *file;		/* configuration file actually read, or NULL */
	char *broker;		/* "host:port" as written */
	char *host;		/* host part; brackets of "[v6]:port" removed */
	char *port;		/* port part */
	char *server_name;	/* name checked in the broker certificate */
	char *ca;		/* PEM file with the CA that issued the broker cert */
	char *cert;		/* PEM client certificate (chain) */
	char *key;		/* PEM private key of cert */
	char *key_passphrase_file;	/* passphrase of an encrypted key,
					   or NULL: ask on the terminal */
	unsigned timeout;	/* seconds; 0 means CLIENTCFG_DEFAULT_TIMEOUT */
};

/* What the command line said; NULL members mean "not given". */
struct clientcfg_flags {
	const char *config;
	const char *broker;
	const char *server_name;
	const char *ca;
	const char *cert;
	const char *key;
	const char *key_passphrase_file;
	unsigned timeout;	/* 0: not given */
};

/*
 * The connection options every subcommand takes, as getopt_long values in
 * this order (a subcommand's own options start at CLIENTCFG_OPT_END).
 */
enum {
	CLIENTCFG_OPT_CONFIG = 256, CLIENTCFG_OPT_BROKER,
	CLIENTCFG_OPT_SERVER_NAME, CLIENTCFG_OPT_CA, CLIENTCFG_OPT_CERT,
	CLIENTCFG_OPT_KEY, CLIENTCFG_OPT_TIMEOUT,
	CLIENTCFG_OPT_KEY_PASSPHRASE_FILE, CLIENTCFG_OPT_END
};

/* Their getopt_long entries. keyname is "key", or another name where a
 * command gives --key another meaning (sekisho audit: "tls-key"). */
#define CLIENTCFG_LONG_OPTIONS(keyname) \
	{ "config", required_argument, NULL, CLIENTCFG_OPT_CONFIG }, \
	{ "broker", required_argument, NULL, CLIENTCFG_OPT_BROKER }, \
	{ "server-name", required_argument, NULL, CLIENTCFG_OPT_SERVER_NAME }, \
	{ "ca", required_argument, NULL, CLIENTCFG_OPT_CA }, \
	{ "cert", required_argument, NULL, CLIENTCFG_OPT_CERT }, \
	{ keyname, required_argument, NULL, CLIENTCFG_OPT_KEY }, \
	{ "timeout", required_argument, NULL, CLIENTCFG_OPT_TIMEOUT }, \
	{ "key-passphrase-file", required_argument, NULL, \
	    CLIENTCFG_OPT_KEY_PASSPHRASE_FILE }

/*
 * Stores the value of connection option c (CLIENTCFG_OPT_CONFIG up to
 * CLIENTCFG_OPT_KEY_PASSPHRASE_FILE) in flags; value is borrowed, not copied. -1 with
 * a usage message in err for a bad --timeout or any other c.
 */
int clientcfg_option(struct clientcfg_flags *flags, int c, const char *value,
    struct i18n_msg *err);

/* Environment the loader consults, passed in so callers (and tests) decide:
 * normally getenv("SEKISHO_CONFIG") and getenv("HOME"). */
struct clientcfg_env {
	const char *sekisho_config;
	const char *home;
};

/*
 * Reads the configuration file (if one applies) into cfg, overlays flags,
 * checks that broker, ca, cert and key are all known, splits broker into
 * host and port and defaults server_name to the host.
 *
 * A file named by --config or $SEKISHO_CONFIG must exist. The default file
 * may be absent as long as flags supply every required setting; otherwise
 * the message names the file and the missing keys. Unknown keys are refused
 * as "file:line: unknown field 'key'".
 * Returns 0, or -1 with err filled (cfg is then freed and zeroed).
 */
int clientcfg_load(const struct clientcfg_flags *flags,
    const struct clientcfg_env *env, struct clientcfg *cfg,
    struct i18n_msg *err);

/* Releases everything cfg owns and zeroes it. Safe on a zeroed struct. */
void clientcfg_free(struct clientcfg *cfg);

/*
 * Splits "host:port" or "[v6addr]:port" into host and port (malloc'd,
 * caller frees). The port must be 1..65535 in decimal. -1 with err on
 * anything else.
 */
int clientcfg_split_broker(const char *broker, char **host, char **port,
    struct i18n_msg *err);

/*
 * Resolves path as the configuration file at cfgfile would mean it:
 * absolute stays, "~/x" goes under home, anything else is relative to
 * cfgfile's directory. Returns a malloc'd string or NULL (err filled).
 */
char *clientcfg_resolve_path(const char *cfgfile, const char *path,
    const char *home, struct i18n_msg *err);

#endif
