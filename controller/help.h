/* `muster help [SUBCOMMAND]`: the manual page when a person is reading,
 * the built-in usage text otherwise. */
#ifndef MUSTER_HELP_H
#define MUSTER_HELP_H

/* argv[0] is "help"; returns the exit status. */
int help_main(int argc, char **argv);

#endif
