/*
 * -o OPTION=VALUE (clush -o, pssh -O): ssh_config options given on the
 * command line, passed to libssh with ssh_options_set. Only options that
 * libssh honours on the connections muster makes are accepted; the
 * others are refused by name, with what to use instead where muster has
 * its own option (a host key check cannot be turned off).
 */
#ifndef MUSTER_SSHOPT_H
#define MUSTER_SSHOPT_H

#include <stddef.h>

#include <libssh/libssh.h>

/*
 * Check "Name=value" or "Name value" (the name in any case) and make
 * *line, "Name value" with the name as ssh_config spells it, for
 * sshopt_apply. The value is tried on a scratch session: one libssh
 * refuses is an error here, not on every host.
 */
int sshopt_parse(const char *arg, char **line, char *err, size_t errlen);
/* Set a line made by sshopt_parse on session. */
int sshopt_apply(ssh_session session, const char *line);

#endif
