/*
 * The ssh_config settings libssh 0.10 does not apply, read by us from the
 * same files: IdentityFile (libssh keeps its list to itself), CertificateFile,
 * IdentitiesOnly and HashKnownHosts. OpenSSH's rules: the first value
 * obtained wins, IdentityFile and CertificateFile accumulate; Host blocks
 * match the name given (the alias) with *, ? and ! patterns; Include is
 * followed. A Match block we cannot evaluate that sets one of these is an
 * error naming file and line, never skipped: a setting muster cannot
 * honour fails loudly.
 */
#ifndef MUSTER_SSHCFG_H
#define MUSTER_SSHCFG_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

#define SSHCFG_MAX_FILES 32
#define SSHCFG_MAX_OTHER 32

struct sshcfg {
	char *identity[SSHCFG_MAX_FILES]; /* expanded paths */
	size_t n_identity;
	char *certificate[SSHCFG_MAX_FILES];
	size_t n_certificate;
	int identities_only;  /* -1 not set, 0 no, 1 yes */
	int hash_known_hosts; /* -1 not set, 0 no, 1 yes */
	/* Where each was set, for messages: "FILE line N". */
	char identities_only_from[320];
	/* The first HostName, Port and User of a Host block that matches the
	 * alias, as OpenSSH reads them ("" / 0: none), and where. */
	char hostname[256], user[128];
	unsigned port;
	char hostname_from[320], port_from[320], user_from[320];
};

/* Every other directive that applies to the alias (or sits in a Match
 * block we cannot evaluate: in_match), once each, the first place it
 * appears: for callers that must check them by name (relayhost.h).
 * overflow: more kinds than fit. */
struct sshcfg_others {
	struct sshcfg_other {
		char key[40];
		char from[320];
		bool in_match;
	} v[SSHCFG_MAX_OTHER];
	size_t n;
	bool overflow;
};

/*
 * Read path (NULL: ~/.ssh/config, then /etc/ssh/ssh_config, as libssh
 * does) for host alias. user is the remote user and hostname the resolved
 * name, for %r and %h in file names. 0, or MERR_PARSE / MERR_INVAL with
 * "FILE line N: why" in err. A missing file is empty.
 */
int sshcfg_read(const char *path, const char *alias, const char *user,
    const char *hostname, struct sshcfg *cfg, char *err, size_t errlen);
/* sshcfg_read, and every other directive that applies into *others. */
int sshcfg_read_all(const char *path, const char *alias, const char *user,
    const char *hostname, struct sshcfg *cfg, struct sshcfg_others *others,
    char *err, size_t errlen);
void sshcfg_free(struct sshcfg *cfg);

/*
 * libssh 0.10 matches the Host blocks after a HostName line against the
 * new name, not the alias: a Port or User in a later block for the alias
 * is dropped (and one for the HostName's value applied). HOST, PORT and
 * USER are what libssh parsed for the alias (before -o or user@ / :port
 * overrides; USER NULL: none): 0 when they agree with cfg's reading, or
 * MERR_INVAL naming the directive, its file and line, and both values.
 */
/* HostName, User ("" none) and Port as session holds them now. */
unsigned sshcfg_libssh_dest(ssh_session session, char *host, size_t hostlen,
    char *user, size_t userlen);
int sshcfg_check_dest(const struct sshcfg *cfg, const char *alias,
    const char *host, unsigned port, const char *user, char *err,
    size_t errlen);

#endif
