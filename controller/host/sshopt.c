#include "sshopt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

struct sshopt {
	const char *name;
	enum ssh_options_e opt;
	enum ssh_options_e opt2; /* the other direction, or opt */
};

static const struct sshopt sshopt_table[] = {
	{ "User", SSH_OPTIONS_USER, SSH_OPTIONS_USER },
	{ "Port", SSH_OPTIONS_PORT_STR, SSH_OPTIONS_PORT_STR },
	{ "HostName", SSH_OPTIONS_HOST, SSH_OPTIONS_HOST },
	{ "Ciphers", SSH_OPTIONS_CIPHERS_C_S, SSH_OPTIONS_CIPHERS_S_C },
	{ "MACs", SSH_OPTIONS_HMAC_C_S, SSH_OPTIONS_HMAC_S_C },
	{ "KexAlgorithms", SSH_OPTIONS_KEY_EXCHANGE,
	    SSH_OPTIONS_KEY_EXCHANGE },
	{ "HostKeyAlgorithms", SSH_OPTIONS_HOSTKEYS, SSH_OPTIONS_HOSTKEYS },
	{ "PubkeyAcceptedAlgorithms", SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
	    SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES },
	{ "PubkeyAcceptedKeyTypes", SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
	    SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES },
	{ "Compression", SSH_OPTIONS_COMPRESSION, SSH_OPTIONS_COMPRESSION },
};

/* Options ssh users reach for that muster has its own way to say. */
static const struct {
	const char *name, *instead;
} sshopt_refused[] = {
	{ "StrictHostKeyChecking",
	    "muster always checks host keys; "
	    "--accept-new records unknown ones" },
	{ "UserKnownHostsFile", "use --known-hosts FILE" },
	{ "GlobalKnownHostsFile", "use --known-hosts FILE" },
	{ "IdentityFile", "use -k FILE" },
	{ "ConnectTimeout", "use --connect-timeout S" },
	{ "ConnectionAttempts", "muster retries a dropped connection itself" },
	{ "ServerAliveInterval",
	    "muster's agent channel has its own "
	    "heartbeat" },
	{ "LogLevel", "use -v, -vv, -vvv" },
	{ "ProxyCommand",
	    "put it in ssh_config (-F FILE); muster "
	    "honours ProxyCommand there" },
	{ "ProxyJump",
	    "use -J LIST, or ProxyJump in ssh_config "
	    "(-F FILE)" },
	{ "BindAddress", "muster opens the TCP connection itself" },
};

static int
sshopt_set(ssh_session s, const struct sshopt *o, const char *value)
{
	if (ssh_options_set(s, o->opt, value) < 0)
		return MERR_INVAL;
	if (o->opt2 != o->opt && ssh_options_set(s, o->opt2, value) < 0)
		return MERR_INVAL;
	return 0;
}

static const struct sshopt *
sshopt_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sshopt_table) / sizeof(sshopt_table[0]); i++)
		if (strlen(sshopt_table[i].name) == len &&
		    strncasecmp(sshopt_table[i].name, name, len) == 0)
			return &sshopt_table[i];
	return NULL;
}

int
sshopt_parse(const char *arg, char **line, char *err, size_t errlen)
{
	const struct sshopt *o;
	const char *value;
	ssh_session s;
	size_t len, i;
	int r;

	*line = NULL;
	len = strcspn(arg, "= \t");
	value = arg + len;
	value += strspn(value, " \t");
	if (*value == '=')
		value++;
	value += strspn(value, " \t");
	if (len == 0 || *value == '\0') {
		snprintf(err, errlen, "-o: expected OPTION=VALUE, got '%s'",
		    arg);
		return MERR_PARSE;
	}
	if ((o = sshopt_find(arg, len)) == NULL) {
		for (i = 0;
		     i < sizeof(sshopt_refused) / sizeof(sshopt_refused[0]);
		     i++)
			if (strlen(sshopt_refused[i].name) == len &&
			    strncasecmp(sshopt_refused[i].name, arg, len) ==
				0) {
				snprintf(err, errlen,
				    "-o %.*s: not taken "
				    "here: %s",
				    (int)len, arg, sshopt_refused[i].instead);
				return MERR_PARSE;
			}
		snprintf(err, errlen,
		    "-o %.*s: not an option muster can pass "
		    "to libssh (it takes User, Port, HostName, Ciphers, MACs, "
		    "KexAlgorithms, HostKeyAlgorithms, "
		    "PubkeyAcceptedAlgorithms, Compression)",
		    (int)len, arg);
		return MERR_PARSE;
	}
	if ((s = ssh_new()) == NULL)
		return MERR_NOMEM;
	r = sshopt_set(s, o, value);
	ssh_free(s);
	if (r != 0) {
		snprintf(err, errlen, "-o %s: libssh refuses the value '%s'",
		    o->name, value);
		return MERR_PARSE;
	}
	if (asprintf(line, "%s %s", o->name, value) < 0) {
		*line = NULL;
		return MERR_NOMEM;
	}
	return 0;
}

int
sshopt_apply(ssh_session session, const char *line)
{
	const struct sshopt *o;
	size_t len = strcspn(line, " ");

	if ((o = sshopt_find(line, len)) == NULL || line[len] != ' ')
		return MERR_INVAL;
	return sshopt_set(session, o, line + len + 1);
}
