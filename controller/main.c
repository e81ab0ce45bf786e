/* muster: run commands across a fleet through agents over SSH. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <libssh/libssh.h>

#include "agentbin.h"
#include "askpass.h"
#include "build_id.h"
#include "cli.h"
#include "conn.h"
#include "daemon.h"
#include "dlink.h"
#include "dsock.h"
#include "err.h"
#include "fleet.h"
#include "frame.h"
#include "help.h"
#include "identity.h"
#include "keyinstall.h"
#include "lastrun.h"
#include "listhosts.h"
#include "log.h"
#include "pull.h"
#include "push.h"
#include "relay.h"
#include "run.h"
#include "fdlimit.h"
#include "sshfile.h"
#include "watch.h"
#include "workpool.h"

#define UPLOAD_WORKERS 4

/*
 * Each host directly connected holds a socket for the whole job, plus a
 * few descriptors of our own. Better a clear refusal up front than hosts
 * failing one by one with "Too many open files".
 */
static int
check_fd_limit(size_t nhosts)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)nhosts + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return 0;
	fprintf(stderr,
	    "muster: %zu hosts need about %llu open files, but "
	    "the limit is %llu (hard limit %llu); raise it (ulimit -n, "
	    "LimitNOFILE=) or select fewer hosts\n",
	    nhosts, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
	    (unsigned long long)rl.rlim_max);
	return MERR_LIMIT;
}

static int cmd_keys_install(int argc, char **argv);

/*
 * The files libssh will read, checked once before any connection (each
 * host's check in hostkey.c then sees the file as it is then). libssh
 * would open a FIFO blocking, with our signals waiting behind it, and
 * would take a known_hosts it cannot read whole as empty, so every host
 * as new. Such a known_hosts leaves no host verifiable (exit 3); an
 * ssh_config we cannot use is a usage error.
 */
static int
check_ssh_files(const struct cli *cli)
{
	char path[4096], err[1024];
	const char *kh = cli->known_hosts;

	if (kh == NULL &&
	    sshfile_user_path("known_hosts", path, sizeof(path)) == 0)
		kh = path;
	if ((kh != NULL &&
		sshfile_check("known_hosts", kh, SSHFILE_KNOWN_HOSTS, err,
		    sizeof(err)) != 0) ||
	    sshfile_check("known_hosts", "/etc/ssh/ssh_known_hosts",
		SSHFILE_KNOWN_HOSTS, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	if (cli->ssh_config != NULL) {
		if (sshfile_check("ssh_config", cli->ssh_config,
			SSHFILE_CONFIG, err, sizeof(err)) != 0)
			goto bad_config;
		return 0;
	}
	if ((sshfile_user_path("config", path, sizeof(path)) == 0 &&
		sshfile_check("ssh_config", path, SSHFILE_CONFIG, err,
		    sizeof(err)) != 0) ||
	    sshfile_check("ssh_config", "/etc/ssh/ssh_config", SSHFILE_CONFIG,
		err, sizeof(err)) != 0)
		goto bad_config;
	return 0;
bad_config:
	fprintf(stderr, "muster: %s\n", err);
	return EXIT_USAGE;
}

/* mkdir -p, new directories 0700 (~/.config may not exist yet). */
static int
mkdir_private(const char *dir)
{
	char path[4096], *slash;

	snprintf(path, sizeof(path), "%s", dir);
	for (slash = strchr(path + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		*slash = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* muster keys init [-k FILE]: argv[0] is "init". */
static int
cmd_keys_init(int argc, char **argv, const struct clitab_command *entry)
{
	char path[4096], err[512];
	const char *dir = identity_default_dir();
	bool is_k;
	int r;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		clitab_command_usage(stdout, entry);
		return 0;
	}
	/* Its one option, -k, is all the table lists for it. */
	is_k = argc >= 2 &&
	    (strcmp(argv[1], "-k") == 0 || strcmp(argv[1], "--identity") == 0);
	if (argc > 1 && !(argc == 3 && is_k)) {
		if (argv[1][0] == '-' && !is_k)
			fprintf(stderr,
			    "muster: %s is not an option of %s "
			    "(see muster %s --help)\n",
			    argv[1], entry->name, entry->name);
		else
			clitab_command_usage(stderr, entry);
		return EXIT_USAGE;
	}
	if (argc == 3)
		snprintf(path, sizeof(path), "%s", argv[2]);
	else {
		if (mkdir_private(dir) != 0) {
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

/*
 * The default identity is optional; an explicit -k must load. "-k -" reads
 * the key from stdin and MUSTER_IDENTITY_DATA holds one (PEM or OpenSSH
 * form), for keys kept in a secret store: neither is written to disk, and
 * the variable is removed so that commands we start (--alert-exec) never
 * inherit the key.
 */
static int
load_identity(const struct cli *cli, ssh_key *key, char **path_out)
{
	const char *data = getenv("MUSTER_IDENTITY_DATA");
	char path[4096], err[512];
	int r;

	if (cli->identity != NULL && strcmp(cli->identity, "-") == 0) {
		r = identity_load_fd(STDIN_FILENO, "stdin (-k -)", key, err,
		    sizeof(err));
		snprintf(path, sizeof(path), "(stdin)");
	} else if (cli->identity == NULL && data != NULL && *data != '\0') {
		r = identity_load_data(data, "$MUSTER_IDENTITY_DATA", key, err,
		    sizeof(err));
		snprintf(path, sizeof(path), "($MUSTER_IDENTITY_DATA)");
	} else {
		if (cli->identity != NULL)
			snprintf(path, sizeof(path), "%s", cli->identity);
		else
			snprintf(path, sizeof(path), "%s/id_ed25519",
			    identity_default_dir());
		r = identity_load(path, key, err, sizeof(err));
		if (r == MERR_NOTFOUND && cli->identity == NULL)
			return 0;
	}
	if (data != NULL)
		unsetenv("MUSTER_IDENTITY_DATA");
	if (r != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return r;
	}
	*path_out = strdup(path);
	return 0;
}

/* --list-hosts: the selection, and exit. */
static int
list_hosts(const struct cli *cli, const struct host_set *hosts)
{
	char err[1024];

	if (listhosts_print(stdout, hosts, cli->ssh_config, cli->jump, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * muster keys install: the key to install is the one we log in with; its
 * line takes the comment of FILE.pub when there is one.
 */
static int
cmd_keys_install(int argc, char **argv)
{
	struct keyinstall_options opts;
	struct host_set hosts;
	struct cli cli;
	ssh_key key = NULL;
	char err[1024], pub[4100], *idpath = NULL, *line = NULL;
	char *password = NULL;
	const char *env;
	int status = EXIT_USAGE;

	host_set_init(&hosts);
	if (cli_parse_configured(argc, argv, &cli, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		goto out;
	}
	if (cli_hosts(&cli, &hosts, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		goto out;
	}
	if (cli.list_hosts) {
		status = list_hosts(&cli, &hosts);
		goto out;
	}
	if ((status = check_ssh_files(&cli)) != 0)
		goto out;
	status = EXIT_USAGE;
	if (load_identity(&cli, &key, &idpath) != 0)
		goto out;
	if (key == NULL) {
		fprintf(stderr,
		    "muster: no key to install: %s/id_ed25519 does "
		    "not exist (make one with `muster keys init`, or give "
		    "-k FILE)\n",
		    identity_default_dir());
		goto out;
	}
	pub[0] = '\0';
	if (idpath != NULL && idpath[0] != '(')
		snprintf(pub, sizeof(pub), "%s.pub", idpath);
	if (identity_public_line(key, pub[0] ? pub : NULL, &line, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		goto out;
	}
	/* The variable goes once read, like the key data: nothing we start
	 * should inherit it. */
	if (cli.password_file != NULL) {
		if (askpass_file(cli.password_file, &password, err,
			sizeof(err)) != 0) {
			fprintf(stderr, "muster: %s\n", err);
			goto out;
		}
	} else if ((env = getenv("MUSTER_PASSWORD")) != NULL &&
	    (password = strdup(env)) == NULL) {
		status = EXIT_INTERNAL;
		goto out;
	}
	unsetenv("MUSTER_PASSWORD");
	memset(&opts, 0, sizeof(opts));
	opts.ssh_config = cli.ssh_config;
	opts.known_hosts = cli.known_hosts;
	opts.accept_new = cli.accept_new;
	opts.connect_timeout = cli.connect_timeout;
	opts.fanout = cli.fanout;
	opts.json = cli.json;
	opts.identity = key;
	opts.pubkey_line = line;
	opts.password = password;
	opts.net.ssh_config = cli.ssh_config;
	opts.net.jump = cli.jump;
	opts.net.known_hosts = cli.known_hosts;
	opts.net.accept_new = cli.accept_new;
	opts.net.identity = key;
	opts.net.identity_path = idpath;
	opts.net.passphrase = getenv("MUSTER_KEY_PASSPHRASE");
	opts.net.connect_timeout = cli.connect_timeout;
	opts.net.max_startups = cli.max_startups;
	opts.net.connect_rate = cli.connect_rate;
	opts.net.jump_channels = cli.jump_channels;
	opts.net.heartbeat = 10;
	status = keyinstall_hosts(&hosts, &opts);
out:
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	free(line);
	ssh_key_free(key);
	free(idpath);
	host_set_free(&hosts);
	cli_free(&cli);
	return status;
}

/* What connecting ourselves needs: the identity and the agent to upload.
 * Returns an exit status, 0 when ready. */
static int
direct_config(const struct cli *cli, struct conn_config *cfg, ssh_key *key,
    char **idpath, struct agentset *agents)
{
	const char *env;
	char err[1024];

	if (load_identity(cli, key, idpath) != 0)
		return EXIT_USAGE;
	if (agentset_load(agents, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return EXIT_INTERNAL;
	}
	cfg->ssh_config = cli->ssh_config;
	cfg->jump = cli->jump;
	cfg->known_hosts = cli->known_hosts;
	cfg->identity = *key;
	cfg->identity_path = *idpath;
	cfg->passphrase = getenv("MUSTER_KEY_PASSPHRASE");
	cfg->upload_timeout = 60;
	cfg->heartbeat = 10;
	/* Test hook: the fault and hostile-agent tests see a silent agent
	 * fail in seconds, not in four heartbeats of 10 s. */
	if ((env = getenv("MUSTER_HEARTBEAT")) != NULL &&
	    strtod(env, NULL) > 0)
		cfg->heartbeat = strtod(env, NULL);
	/* Test hook: the hung-upload tests see the deadline in seconds. */
	if ((env = getenv("MUSTER_UPLOAD_TIMEOUT")) != NULL &&
	    strtod(env, NULL) > 0)
		cfg->upload_timeout = strtod(env, NULL);
	/* Test hook: a session's in-flight bound small enough that an
	 * estimate drifting by a few bytes a packet reaches it in seconds. */
	if ((env = getenv("MUSTER_SSH_INFLIGHT_MAX")) != NULL &&
	    strtoul(env, NULL, 10) >= 4096)
		cfg->inflight_max = (size_t)strtoul(env, NULL, 10);
	cfg->agents = agents;
	return 0;
}

/* Hosts that log in with a key, take a route or keep their agent in a
 * place of their own: the daemon's connections were made its way, so they
 * are reached directly. */
static bool
own_keys(const struct host_set *hosts)
{
	size_t i;

	for (i = 0; i < hosts->n; i++)
		if (hosts->v[i].key_file != NULL ||
		    (hosts->v[i].route_kind != HOST_ROUTE_NONE &&
			hosts->v[i].route_kind != HOST_ROUTE_RELAY) ||
		    hosts->v[i].agent_dir != NULL)
			return true;
	return false;
}

/*
 * Borrow a running daemon's agent channels, unless told not to or the
 * command line asks for connection settings the daemon does not use.
 * NULL: connect directly.
 */
static struct dlink *
try_daemon(const struct cli *cli, struct ev_loop *loop)
{
	struct dlink_settings want = { cli->identity, cli->known_hosts,
		cli->ssh_config };
	struct dlink *link = NULL;
	char err[512];
	int r;

	/* -o settings are ours to apply; the daemon's connections are
	 * made already, and do not go through -J's bastions. */
	if (cli->no_daemon || cli->nssh_options > 0 || cli->jump != NULL ||
	    (cli->identity != NULL && strcmp(cli->identity, "-") == 0))
		return NULL;
	r = dlink_open(loop, &want, &link, err, sizeof(err));
	if (r == 0) {
		if (cli->verbose)
			fprintf(stderr, "muster: using the daemon\n");
		return link;
	}
	/* No daemon is the normal case; anything else deserves a word. */
	if (r != MERR_NOTFOUND && (cli->verbose || r != MERR_INVAL))
		fprintf(stderr, "muster: %s; connecting directly\n", err);
	return NULL;
}

/* --relay R: every host through the relay R, as if the inventory said so. */
static int
relay_setup(const struct cli *cli, struct host_set *hosts)
{
	struct host_spec *h;
	size_t i;

	for (i = 0; i < hosts->n; i++) {
		h = &hosts->v[i];
		free(h->route);
		free(h->route_origin);
		h->route_kind = HOST_ROUTE_RELAY;
		h->route = strdup(cli->relay);
		h->route_origin = strdup("--relay");
		if (h->route == NULL || h->route_origin == NULL)
			return MERR_NOMEM;
	}
	return 0;
}

/* --batch, --max-fail, and a place for each host's outcome (--rerun). */
static int
roll_setup(const struct cli *cli, size_t nhosts, struct fleet_roll *roll)
{
	memset(roll, 0, sizeof(*roll));
	if (cli->cmd == CLI_WATCH)
		return 0;
	cli_roll(cli, nhosts, &roll->batch, &roll->max_fail);
	if ((roll->final = calloc(nhosts, sizeof(*roll->final))) == NULL)
		return MERR_NOMEM;
	roll->nfinal = nhosts;
	return 0;
}

/* run, push and pull: select hosts, set up SSH, hand over to the job. */
static int
cmd_fleet(int argc, char **argv)
{
	struct conn_config cfg;
	struct fleet_roll roll;
	struct host_set hosts;
	struct agentset agents;
	struct relays *relays = NULL;
	struct cli cli;
	ssh_key key = NULL;
	char err[1024], *idpath = NULL;
	int r, status = EXIT_INTERNAL;

	memset(&roll, 0, sizeof(roll));

	host_set_init(&hosts);
	memset(&agents, 0, sizeof(agents));
	if (cli_parse_configured(argc, argv, &cli, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		cli_free(&cli);
		return EXIT_USAGE;
	}
	log_set_level(cli.verbose);
	if ((r = cli_hosts(&cli, &hosts, err, sizeof(err))) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		/* --rerun with nothing left to do is not a mistake. */
		status = r == MERR_NOTFOUND && cli.rerun != NULL ?
		    EXIT_ALL_OK :
		    EXIT_USAGE;
		goto out;
	}
	if (cli.list_hosts) {
		status = list_hosts(&cli, &hosts);
		goto out;
	}
	if (roll_setup(&cli, hosts.n, &roll) != 0)
		goto out;
	if ((status = check_ssh_files(&cli)) != 0)
		goto out;
	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = EV_DEFAULT;
	cfg.accept_new = cli.accept_new;
	cfg.connect_timeout = cli.connect_timeout;
	cfg.fanout = cli.fanout;
	cfg.max_startups = cli.max_startups;
	cfg.connect_rate = cli.connect_rate;
	cfg.jump_channels = cli.jump_channels;
	cfg.verbose = cli.verbose;
	cfg.ssh_options = cli.ssh_options;
	cfg.nssh_options = cli.nssh_options;
	cfg.roll = roll.final != NULL ? &roll : NULL;
	/* run becomes per command; push and pull need the agent itself to
	 * run as the user, which a daemon's shared channel is not. */
	if (cli.run.become && cli.cmd != CLI_RUN)
		cfg.become_user = cli.run.become_user;
	/* A relay never goes through the local daemon, and is reached by
	 * ssh_config's route for it, not by -J's. */
	if (cli.relay != NULL && cli.jump != NULL) {
		fprintf(stderr,
		    "muster: --relay and -J cannot be combined (the route "
		    "to a relay is ssh_config's)\n");
		status = EXIT_USAGE;
		goto out;
	}
	if ((cli.relay != NULL || cfg.become_user != NULL ||
		own_keys(&hosts) ||
		(cfg.link = try_daemon(&cli, cfg.loop)) == NULL) &&
	    (status = direct_config(&cli, &cfg, &key, &idpath, &agents)) != 0)
		goto out;
	if (cfg.link == NULL && check_fd_limit(hosts.n) != 0) {
		status = EXIT_USAGE;
		goto out;
	}
	status = EXIT_INTERNAL;
	if ((r = workpool_new(cfg.loop, UPLOAD_WORKERS, &cfg.workers)) != 0) {
		fprintf(stderr, "muster: cannot start workers: %s\n",
		    merr_str(r));
		goto out;
	}
	/* The inventory's relay=, or --relay for every host (it wins, as -J
	 * over ProxyJump). */
	/* Through the daemon, its relays are the daemon's: each host's
	 * Attach names its relay, and the daemon lends only a channel it
	 * holds through that relay. */
	if ((cli.relay != NULL && (r = relay_setup(&cli, &hosts)) != 0) ||
	    (cfg.link == NULL &&
		(r = relays_open(&cfg, &hosts, &relays, err, sizeof(err))) !=
		    0)) {
		if (r == MERR_NOMEM)
			snprintf(err, sizeof(err), "out of memory");
		fprintf(stderr, "muster: %s\n", err);
		workpool_free(cfg.workers);
		status = r == MERR_NOMEM ? EXIT_INTERNAL : EXIT_USAGE;
		goto out;
	}
	cfg.relays = relays;
	status = EXIT_INTERNAL;
	switch (cli.cmd) {
	case CLI_RUN: status = run_hosts(&cfg, &hosts, &cli.run); break;
	case CLI_PUSH: status = push_hosts(&cfg, &hosts, &cli.push); break;
	case CLI_PULL: status = pull_hosts(&cfg, &hosts, &cli.pull); break;
	case CLI_WATCH:
		cli.watch.inventory = cli.inventory;
		status = watch_hosts(&cfg, &hosts, &cli.watch);
		break;
	case CLI_KEYS_INSTALL: /* cmd_keys_install */
	case CLI_DAEMON:       /* cmd_daemon */
	case CLI_KEYS_INIT:    /* the rest have no hosts */
	case CLI_HELP:
	case CLI_VERSION: break;
	}
	relays_free(relays); /* their links with them */
	dlink_free(cfg.link);
	workpool_free(cfg.workers);
	ev_loop_destroy(cfg.loop);
	/* Kept for --rerun; losing it loses no work, so it is only said. */
	if (cfg.roll != NULL &&
	    lastrun_save(&hosts, roll.final, err, sizeof(err)) != 0)
		fprintf(stderr, "muster: %s\n", err);
out:
	free(roll.final);
	ssh_key_free(key);
	free(idpath);
	agentset_free(&agents);
	host_set_free(&hosts);
	cli_free(&cli);
	return status;
}

/* The machine an ELF file is for, as uname -m says it. */
static const char *
elf_machine(const uint8_t *p, size_t len)
{
	unsigned m;

	if (len < 20 || memcmp(p, "\177ELF", 4) != 0)
		return "not an ELF file";
	/* e_machine, in the file's own byte order (EI_DATA). */
	m = p[5] == 2 ?
	    (unsigned)p[18] << 8 | p[19] :
	    (unsigned)p[19] << 8 | p[18];
	switch (m) {
	case 3: return "i386";
	case 40: return "arm";
	case 62: return "x86_64";
	case 183: return "aarch64";
	case 243: return "riscv64";
	default: return "unknown machine";
	}
}

/* muster version: what a bug report needs. */
static int
cmd_version(void)
{
	struct agentset agents;
	char err[1024];
	size_t i;

	memset(&agents, 0, sizeof(agents));
	printf("muster %s\nprotocol %d\nagent build %s\n", MUSTER_VERSION,
	    MUSTER_PROTO_VERSION, MUSTER_BUILD_ID);
	if (agentset_load(&agents, err, sizeof(err)) != 0) {
		printf("agent: none (%s)\n", err);
		return EXIT_INTERNAL;
	}
	for (i = 0; i < agents.n; i++) {
		const struct agentbin *a = &agents.v[i];

		printf("agent: %s, %s, %zu bytes, sha256 %.16s...\n", a->path,
		    elf_machine(a->data, a->len), a->len, a->sha256);
	}
	agentset_free(&agents);
	return 0;
}

/* Paths the daemon keeps must survive its chdir and be comparable with
 * what clients name. */
static int
absolute(const char *in, char **out)
{
	*out = NULL;
	if (in == NULL)
		return 0;
	if ((*out = realpath(in, NULL)) == NULL) {
		fprintf(stderr, "muster: %s: %s\n", in, strerror(errno));
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Fork into the background once the socket listens, so that errors (a
 * daemon already running, a bad key) still reach the terminal. The parent
 * returns only when the child is ready: a script may use the daemon as
 * soon as this command returns.
 */
/* A daemon must not hold its starter's pipes open (a shell's $(...)
 * would wait for it forever). */
static void
close_inherited(int keep1, int keep2)
{
	int lo = keep1 < keep2 ? keep1 : keep2;
	int hi = keep1 < keep2 ? keep2 : keep1;
	int fd;

	/* close_range: three calls instead of probing every possible
	 * descriptor; the loop is for kernels before 5.9. */
	if (lo > STDERR_FILENO &&
	    (lo == STDERR_FILENO + 1 ||
		close_range(STDERR_FILENO + 1, (unsigned)lo - 1, 0) == 0) &&
	    (hi <= lo + 1 ||
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0) == 0) &&
	    close_range((unsigned)hi + 1, ~0U, 0) == 0)
		return;
	for (fd = STDERR_FILENO + 1; fd < 65536; fd++)
		if (fd != keep1 && fd != keep2 && fcntl(fd, F_GETFD) >= 0)
			close(fd);
}

static int
background(const char *sock, int keep, FILE **log)
{
	char logpath[4096], *slash, c;
	pid_t pid;
	int pfd[2], fd;

	snprintf(logpath, sizeof(logpath), "%s", sock);
	if ((slash = strrchr(logpath, '/')) != NULL)
		snprintf(slash + 1,
		    sizeof(logpath) - (size_t)(slash + 1 - logpath),
		    "daemon.log");
	if (pipe(pfd) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "muster: cannot fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &c, 1) != 1) {
			fprintf(stderr,
			    "muster: the daemon did not start "
			    "(see %s)\n",
			    logpath);
			exit(EXIT_INTERNAL);
		}
		printf("muster daemon: pid %d, socket %s, log %s\n", (int)pid,
		    sock, logpath);
		exit(0);
	}
	close(pfd[0]);
	setsid();
	close_inherited(keep, pfd[1]);
	if (chdir("/") != 0)
		_exit(EXIT_INTERNAL);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if ((fd = open(logpath,
		 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		 0600)) >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	*log = stderr;
	return pfd[1];
}

static int
cmd_daemon(int argc, char **argv)
{
	struct daemon_options opts;
	struct conn_config cfg;
	struct host_set hosts;
	struct agentset agents;
	struct cli cli;
	ssh_key key = NULL;
	char err[1024], sock[256], *idpath = NULL, *kh = NULL, *sshcfg = NULL;
	char *abs_id = NULL;
	int r, status = EXIT_USAGE, lfd = -1, ready = -1;
	struct dsock_bound bound;

	host_set_init(&hosts);
	memset(&agents, 0, sizeof(agents));
	memset(&cfg, 0, sizeof(cfg));
	if (cli_parse_configured(argc, argv, &cli, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		cli_free(&cli);
		return EXIT_USAGE;
	}
	log_set_level(cli.verbose);
	if (cli.daemon_status || cli.daemon_stop) {
		r = cli.daemon_status ?
		    dlink_request_status(cli.json, err, sizeof(err)) :
		    dlink_request_stop(err, sizeof(err));
		if (r != 0)
			fprintf(stderr, "muster: %s\n", err);
		status = r == 0 ? 0 : EXIT_CMD_FAILED;
		goto out;
	}
	if ((cli.nw > 0 || cli.inventory != NULL) &&
	    cli_hosts(&cli, &hosts, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		goto out;
	}
	if (cli.list_hosts) {
		status = hosts.n > 0 ? list_hosts(&cli, &hosts) : EXIT_USAGE;
		if (hosts.n == 0)
			fprintf(stderr,
			    "muster: --list-hosts: no hosts "
			    "selected\n");
		goto out;
	}
	if ((status = absolute(cli.known_hosts, &kh)) != 0 ||
	    (status = absolute(cli.ssh_config, &sshcfg)) != 0)
		goto out;
	cli.known_hosts = kh;
	cli.ssh_config = sshcfg;
	if ((status = check_ssh_files(&cli)) != 0)
		goto out;
	if ((status = direct_config(&cli, &cfg, &key, &idpath, &agents)) != 0)
		goto out;
	status = EXIT_INTERNAL;
	if (idpath != NULL && (abs_id = realpath(idpath, NULL)) != NULL)
		cfg.identity_path = abs_id;
	cfg.accept_new = cli.accept_new;
	cfg.connect_timeout = cli.connect_timeout;
	cfg.fanout = cli.fanout;
	cfg.max_startups = cli.max_startups;
	cfg.connect_rate = cli.connect_rate;
	cfg.jump_channels = cli.jump_channels;
	cfg.verbose = false;
	cfg.hold = true;
	if (dsock_path(sock, sizeof(sock)) != 0) {
		fprintf(stderr,
		    "muster: no place for the daemon socket (set "
		    "XDG_RUNTIME_DIR, HOME or MUSTER_DAEMON_SOCKET)\n");
		goto out;
	}
	if (dsock_listen(sock, &lfd, &bound, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		status = EXIT_CMD_FAILED;
		goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.fanout = cli.fanout;
	opts.listen_fd = lfd;
	opts.socket_path = sock;
	opts.bound = bound;
	opts.log = stderr;
	if (!cli.daemon_foreground &&
	    (ready = background(sock, lfd, &opts.log)) < 0)
		goto out;
	cfg.loop = EV_DEFAULT;
	if ((r = workpool_new(cfg.loop, UPLOAD_WORKERS, &cfg.workers)) != 0) {
		fprintf(stderr, "muster: cannot start workers: %s\n",
		    merr_str(r));
		goto out;
	}
	if (ready >= 0) {
		if (write(ready, "", 1) != 1)
			goto out;
		close(ready);
	}
	status = daemon_serve(&cfg, &hosts, &opts);
	workpool_free(cfg.workers);
	ev_loop_destroy(cfg.loop);
out:
	if (lfd >= 0)
		close(lfd);
	ssh_key_free(key);
	free(idpath);
	free(abs_id);
	free(kh);
	free(sshcfg);
	agentset_free(&agents);
	host_set_free(&hosts);
	cli_free(&cli);
	return status;
}

/*
 * A closed stdin, stdout or stderr would be the next descriptor we open
 * (the event loop's, a host's socket), and output would go there. Hold
 * each closed one with /dev/null opened the wrong way round: it stays
 * taken, and writes to it still fail (EBADF) as they would have.
 */
static void
hold_closed_stdio(void)
{
	int fd, nfd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		nfd = open("/dev/null",
		    fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
	}
}

int
main(int argc, char **argv)
{
	const struct clitab_command *entry;
	int status = EXIT_INTERNAL, used;

	hold_closed_stdio();
	if (argc < 2) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	fdlimit_raise();
	ssh_init();
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = "version";
	else if (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		cli_usage(stdout);
		ssh_finalize();
		return 0;
	}
	if ((entry = clitab_find(argc - 1, argv + 1, &used)) == NULL) {
		fprintf(stderr, "muster: unknown command '%s%s%s'\n", argv[1],
		    argc > 2 && strcmp(argv[1], "keys") == 0 ? " " : "",
		    argc > 2 && strcmp(argv[1], "keys") == 0 ? argv[2] : "");
		cli_usage(stderr);
		ssh_finalize();
		return EXIT_USAGE;
	}
	/* The subcommand sees its own last word as argv[0]. */
	argc -= used;
	argv += used;
	switch (entry->cmd) {
	case CLI_RUN:
	case CLI_PUSH:
	case CLI_PULL:
	case CLI_WATCH: status = cmd_fleet(argc, argv); break;
	case CLI_DAEMON: status = cmd_daemon(argc, argv); break;
	case CLI_KEYS_INIT: status = cmd_keys_init(argc, argv, entry); break;
	case CLI_KEYS_INSTALL: status = cmd_keys_install(argc, argv); break;
	case CLI_HELP: status = help_main(argc, argv); break;
	case CLI_VERSION: status = cmd_version(); break;
	}
	ssh_finalize();
	return status;
}
