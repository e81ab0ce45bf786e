#include "help.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "clitab.h"
#include "status.h"

extern char **environ;

/* Run argv; 0 when it exits 0. quiet sends its output to /dev/null. */
static int
spawn_wait(char *const argv[], int quiet)
{
	posix_spawn_file_actions_t fa;
	int status, r;
	pid_t pid;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
		    "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
		    "/dev/null", O_WRONLY, 0);
	}
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * The page next to the binary: an installed tree keeps it in
 * ../share/man/man1, a build directory inside the source tree in ../../man.
 * Then whatever man(1) finds on its own path.
 */
static int
show_man(const char *page)
{
	static const char *const rel[] = { "../share/man/man1", "../../man" };
	char exe[PATH_MAX], path[PATH_MAX + 64], *slash;
	char *argv[4];
	ssize_t n;
	size_t i;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s/%s.1", exe, rel[i],
			    page);
			if (access(path, R_OK) != 0)
				continue;
			argv[0] = "man";
			argv[1] = "-l";
			argv[2] = path;
			argv[3] = NULL;
			return spawn_wait(argv, 0);
		}
	}
	argv[0] = "man";
	argv[1] = "-w";
	argv[2] = (char *)page;
	argv[3] = NULL;
	if (spawn_wait(argv, 1) != 0)
		return -1;
	argv[1] = (char *)page;
	argv[2] = NULL;
	return spawn_wait(argv, 0);
}

int
help_main(int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : NULL;
	char page[64];
	size_t i;

	if (sub != NULL) {
		/* The topics are the pages the command table names. */
		for (i = 0; i < clitab_ncommands; i++)
			if (clitab_commands[i].man != NULL &&
			    strcmp(clitab_commands[i].man, sub) == 0)
				break;
		if (i == clitab_ncommands) {
			fprintf(stderr,
			    "muster: no help for '%s' (subcommands:", sub);
			for (i = 0; i < clitab_ncommands; i++)
				if (clitab_commands[i].man != NULL &&
				    (i == 0 ||
					clitab_commands[i - 1].man == NULL ||
					strcmp(clitab_commands[i - 1].man,
					    clitab_commands[i].man) != 0))
					fprintf(stderr, "%s %s",
					    i > 0 ? "," : "",
					    clitab_commands[i].man);
			fprintf(stderr, ")\n");
			return EXIT_USAGE;
		}
		snprintf(page, sizeof(page), "muster-%s", sub);
	} else
		snprintf(page, sizeof(page), "muster");
	/* A pager only makes sense for a person at a terminal. */
	fflush(stdout);
	if (isatty(STDOUT_FILENO) && show_man(page) == 0)
		return 0;
	cli_usage(stdout);
	return 0;
}
