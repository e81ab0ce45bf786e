/* muster: run commands across a fleet through agents over SSH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <libssh/libssh.h>

#include "agentbin.h"
#include "build_id.h"
#include "cli.h"
#include "conn.h"
#include "err.h"
#include "frame.h"
#include "identity.h"
#include "pull.h"
#include "push.h"
#include "run.h"
#include "watch.h"
#include "workpool.h"

#define UPLOAD_WORKERS 4

/* Every host costs a socket; take all the descriptors we are allowed. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
cmd_keys(int argc, char **argv)
{
	char path[4096], err[512];
	const char *dir = identity_default_dir();
	int r;

	if (argc < 2 || strcmp(argv[1], "init") != 0) {
		fprintf(stderr, "usage: muster keys init [-k FILE]\n");
		return EXIT_USAGE;
	}
	if (argc >= 4 && strcmp(argv[2], "-k") == 0)
		snprintf(path, sizeof(path), "%s", argv[3]);
	else {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "muster: cannot create %s: %s\n", dir,
			    strerror(errno));
			return EXIT_INTERNAL;
		}
		snprintf(path, sizeof(path), "%s/id_ed25519", dir);
	}
	if ((r = identity_generate(path, err, sizeof(err))) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return r == MERR_EXISTS ? EXIT_USAGE : EXIT_INTERNAL;
	}
	printf("created %s and %s.pub\n", path, path);
	return 0;
}

/* The default identity is optional; an explicit -k must load. */
static int
load_identity(const struct cli *cli, ssh_key *key, char **path_out)
{
	char path[4096], err[512];
	int r;

	if (cli->identity != NULL)
		snprintf(path, sizeof(path), "%s", cli->identity);
	else
		snprintf(path, sizeof(path), "%s/id_ed25519",
		    identity_default_dir());
	r = identity_load(path, key, err, sizeof(err));
	if (r == MERR_NOTFOUND && cli->identity == NULL)
		return 0;
	if (r != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return r;
	}
	*path_out = strdup(path);
	return 0;
}

/* run, push and pull: select hosts, set up SSH, hand over to the job. */
static int
cmd_fleet(int argc, char **argv)
{
	struct conn_config cfg;
	struct host_set hosts;
	struct agentbin agent;
	struct cli cli;
	ssh_key key = NULL;
	char err[1024], *idpath = NULL;
	int r, status = EXIT_INTERNAL;

	host_set_init(&hosts);
	memset(&agent, 0, sizeof(agent));
	if (cli_parse(argc, argv, &cli, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		cli_free(&cli);
		return EXIT_USAGE;
	}
	if (cli_hosts(&cli, &hosts, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		status = EXIT_USAGE;
		goto out;
	}
	if (load_identity(&cli, &key, &idpath) != 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (agentbin_load(&agent, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = EV_DEFAULT;
	cfg.ssh_config = cli.ssh_config;
	cfg.known_hosts = cli.known_hosts;
	cfg.accept_new = cli.accept_new;
	cfg.identity = key;
	cfg.identity_path = idpath;
	cfg.passphrase = getenv("MUSTER_KEY_PASSPHRASE");
	cfg.connect_timeout = cli.connect_timeout;
	cfg.upload_timeout = 60;
	cfg.heartbeat = 10;
	cfg.agent = agent.data;
	cfg.agent_len = agent.len;
	memcpy(cfg.agent_sha256, agent.sha256, sizeof(cfg.agent_sha256));
	cfg.verbose = cli.verbose;
	if ((r = workpool_new(cfg.loop, UPLOAD_WORKERS, &cfg.workers)) != 0) {
		fprintf(stderr, "muster: cannot start workers: %s\n",
		    merr_str(r));
		goto out;
	}
	switch (cli.cmd) {
	case CLI_RUN:
		status = run_hosts(&cfg, &hosts, &cli.run);
		break;
	case CLI_PUSH:
		status = push_hosts(&cfg, &hosts, &cli.push);
		break;
	case CLI_PULL:
		status = pull_hosts(&cfg, &hosts, &cli.pull);
		break;
	case CLI_WATCH:
		status = watch_hosts(&cfg, &hosts, &cli.watch);
		break;
	}
	workpool_free(cfg.workers);
	ev_loop_destroy(cfg.loop);
 out:
	ssh_key_free(key);
	free(idpath);
	agentbin_free(&agent);
	host_set_free(&hosts);
	cli_free(&cli);
	return status;
}

int
main(int argc, char **argv)
{
	int status;

	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	raise_fd_limit();
	ssh_init();
	if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "push") == 0 ||
	    strcmp(argv[1], "pull") == 0 || strcmp(argv[1], "watch") == 0)
		status = cmd_fleet(argc - 1, argv + 1);
	else if (strcmp(argv[1], "keys") == 0)
		status = cmd_keys(argc - 1, argv + 1);
	else if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("muster protocol %d, agent build %s\n",
		    MUSTER_PROTO_VERSION, MUSTER_BUILD_ID);
		status = 0;
	} else if (strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_usage(stdout);
		status = 0;
	} else {
		fprintf(stderr, "muster: unknown command '%s'\n", argv[1]);
		cli_usage(stderr);
		status = EXIT_USAGE;
	}
	ssh_finalize();
	return status;
}
