/*
 * simfleet: the options, the hosts, their keys and the loop (see
 * simfleet.h).
 *
 *   simfleet --dir DIR --hosts N --authorized-keys FILE [--first ADDR]
 *            [--port P] [--user NAME] [--changed-key I,J,...]
 *            [--sftp-server PATH|none]
 *
 * DIR/keys/ADDR     host ADDR's ed25519 key, made on first use and kept
 * DIR/home/ADDR     its home directory (HOME of its commands)
 * DIR/known_hosts   one line per host (written before listening)
 * DIR/hosts         the hosts' addresses, one a line
 * DIR/ready         written once every host listens; holds the pid
 *
 * Host I (1-based) of --changed-key serves a fresh key that its
 * known_hosts line does not name: a host whose key changed.
 * SIGTERM/SIGINT end it (children get SIGHUP); SIGUSR1 prints counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simfleet.h"

#define SIMFLEET_SFTP_DEFAULT "/usr/lib/openssh/sftp-server"
/* Descriptors per host while muster's agent runs there: its listening
 * socket, the session's socket and the agent's three pipes. */
#define SIMFLEET_FDS_PER_HOST 5

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("simfleet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
usage(void)
{
	fputs("usage: simfleet --dir DIR --hosts N --authorized-keys FILE\n"
	      "       [--first ADDR] [--port P] [--user NAME]\n"
	      "       [--changed-key I,J,...] [--sftp-server PATH|none]\n",
	    stderr);
	exit(2);
}

/* Write a file whole under a temporary name, then rename it. */
static void
write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	FILE *fp;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
		(long)getpid()) >= sizeof(tmp))
		die("%s: path too long", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	if (fwrite(data, 1, len, fp) != len || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0 || fclose(fp) != 0)
		die("%s: write failed", tmp);
	if (rename(tmp, path) != 0)
		die("rename %s: %s", tmp, strerror(errno));
}

static void
mkdir_p(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static void
load_authorized(struct simfleet *f, const char *path)
{
	FILE *fp;
	char line[16384], *type, *b64, *save;
	ssh_key key;

	if ((fp = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((type = strtok_r(line, " \t\r\n", &save)) == NULL ||
		    type[0] == '#')
			continue;
		if ((b64 = strtok_r(NULL, " \t\r\n", &save)) == NULL ||
		    ssh_pki_import_pubkey_base64(b64,
			ssh_key_type_from_name(type), &key) != SSH_OK)
			die("%s: a line that is no public key (options are "
			    "not supported)",
			    path);
		f->authorized = reallocarray(f->authorized, f->nauthorized + 1,
		    sizeof(*f->authorized));
		if (f->authorized == NULL)
			die("out of memory");
		f->authorized[f->nauthorized++] = key;
	}
	fclose(fp);
	if (f->nauthorized == 0)
		die("%s: no key", path);
}

/* Host key of one host: from DIR/keys, or made now and kept there. */
static ssh_key
host_key(const char *dir, const char *addr)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	ssh_key key = NULL;

	snprintf(path, sizeof(path), "%s/keys/%s", dir, addr);
	if (access(path, F_OK) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL,
			&key) != SSH_OK)
			die("%s: not a private key", path);
		return key;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		die("cannot make an ed25519 key");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		die("%s: path too long", path);
	unlink(tmp);
	if (ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp) !=
		SSH_OK ||
	    rename(tmp, path) != 0)
		die("cannot write %s", path);
	return key;
}

static bool
in_list(const char *list, size_t i)
{
	char *copy, *tok, *save, *end;
	bool found = false;

	if (list == NULL)
		return false;
	if ((copy = strdup(list)) == NULL)
		die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strtoul(tok, &end, 10) == i && *end == '\0')
			found = true;
	}
	free(copy);
	return found;
}

static void
simfleet_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	simsess_accept(w->data);
}

static void
simfleet_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
print_counters(const struct simfleet *f)
{
	fprintf(stderr,
	    "simfleet: %zu hosts, %lu connections, %lu authenticated, "
	    "%lu denied, %lu exec, %lu sftp, %lu sessions and %lu children "
	    "live\n",
	    f->nhosts, f->accepted, f->auth_ok, f->auth_denied, f->execs,
	    f->sftps, f->live_sessions, f->live_children);
}

static void
simfleet_usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	print_counters(w->data);
}

/* Enough descriptors for every host; root may raise the hard limit. */
static void
raise_nofile(size_t nhosts)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nhosts * SIMFLEET_FDS_PER_HOST + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("%zu hosts need %llu descriptors (RLIMIT_NOFILE): %s",
		    nhosts, (unsigned long long)want, strerror(errno));
}

static void
listen_host(struct simhost *h, int port, ssh_key key)
{
	bool no = false;
	int fd;

	if ((h->bind = ssh_bind_new()) == NULL)
		die("out of memory");
	if (ssh_bind_options_set(h->bind, SSH_BIND_OPTIONS_BINDADDR,
		h->addr) != SSH_OK ||
	    ssh_bind_options_set(h->bind, SSH_BIND_OPTIONS_BINDPORT, &port) !=
		SSH_OK ||
	    ssh_bind_options_set(h->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG,
		&no) != SSH_OK ||
	    ssh_bind_options_set(h->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) !=
		SSH_OK)
		die("%s: %s", h->addr, ssh_get_error(h->bind));
	if (ssh_bind_listen(h->bind) != SSH_OK)
		die("%s:%d: %s", h->addr, port, ssh_get_error(h->bind));
	fd = ssh_bind_get_fd(h->bind);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	ev_io_init(&h->accept_w, simfleet_accept_cb, fd, EV_READ);
	h->accept_w.data = h;
	ev_io_start(h->fleet->loop, &h->accept_w);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "hosts", required_argument, NULL, 'n' },
		{ "authorized-keys", required_argument, NULL, 'a' },
		{ "first", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "changed-key", required_argument, NULL, 'c' },
		{ "sftp-server", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct simfleet f = { 0 };
	const char *dir = NULL, *authkeys = NULL, *first = "127.60.0.1";
	const char *changed = NULL;
	char path[PATH_MAX], *kh = NULL, *list = NULL, *b64, *end;
	size_t khlen = 0, listlen = 0, i;
	FILE *khf, *listf;
	struct in_addr a;
	uint32_t ip;
	long port = 22, n = 0;
	ev_signal sigterm_w, sigint_w, sigusr1_w;
	ssh_key key, served;
	int c;

	f.sftp_server = SIMFLEET_SFTP_DEFAULT;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'a': authkeys = optarg; break;
		case 'f': first = optarg; break;
		case 'u': f.user = optarg; break;
		case 'c': changed = optarg; break;
		case 's':
			f.sftp_server = strcmp(optarg, "none") == 0 ?
			    NULL :
			    optarg;
			break;
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 60000)
				die("--hosts: 1 to 60000, not '%s'", optarg);
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535)
				die("--port: not a port: '%s'", optarg);
			break;
		default: usage();
		}
	}
	if (dir == NULL || authkeys == NULL || n == 0 || optind != argc)
		usage();
	if (inet_pton(AF_INET, first, &a) != 1)
		die("--first: not an IPv4 address: '%s'", first);
	ip = ntohl(a.s_addr);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile((size_t)n);
	ssh_init();
	f.loop = ev_default_loop(EVFLAG_AUTO);
	load_authorized(&f, authkeys);
	mkdir_p(dir);
	/* HOME must be absolute, as a login's is. */
	if ((dir = realpath(dir, NULL)) == NULL)
		die("--dir: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/keys", dir);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/home", dir);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/ready", dir);
	unlink(path);
	if ((f.hosts = calloc((size_t)n, sizeof(*f.hosts))) == NULL)
		die("out of memory");
	f.nhosts = (size_t)n;
	khf = open_memstream(&kh, &khlen);
	listf = open_memstream(&list, &listlen);
	if (khf == NULL || listf == NULL)
		die("out of memory");
	for (i = 0; i < f.nhosts; i++, ip++) {
		struct simhost *h = &f.hosts[i];

		/* Skip .0 and .255: some stacks treat them as network and
		 * broadcast addresses even on loopback. */
		while ((ip & 0xff) == 0 || (ip & 0xff) == 255)
			ip++;
		/* The simulator listens on loopback only. */
		if ((ip >> 24) != 127)
			die("host %zu would be at %u.%u.%u.%u, outside "
			    "127.0.0.0/8",
			    i + 1, ip >> 24, (ip >> 16) & 0xff,
			    (ip >> 8) & 0xff, ip & 0xff);
		h->fleet = &f;
		snprintf(h->addr, sizeof(h->addr), "%u.%u.%u.%u", ip >> 24,
		    (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
		snprintf(h->home, sizeof(h->home), "%s/home/%s", dir, h->addr);
		mkdir_p(h->home);
		key = host_key(dir, h->addr);
		if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
			die("%s: cannot export its public key", h->addr);
		if (port == 22)
			fprintf(khf, "%s %s %s\n", h->addr,
			    ssh_key_type_to_char(ssh_key_type(key)), b64);
		else
			fprintf(khf, "[%s]:%ld %s %s\n", h->addr, port,
			    ssh_key_type_to_char(ssh_key_type(key)), b64);
		fprintf(listf, "%s\n", h->addr);
		ssh_string_free_char(b64);
		served = key;
		if (in_list(changed, i + 1)) {
			ssh_key_free(key);
			if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0,
				&served) != SSH_OK)
				die("cannot make an ed25519 key");
		}
		listen_host(h, (int)port, served); /* the bind owns it */
	}
	fclose(khf);
	fclose(listf);
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	write_file(path, kh, khlen);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	write_file(path, list, listlen);
	free(kh);
	free(list);

	ev_signal_init(&sigterm_w, simfleet_stop_cb, SIGTERM);
	ev_signal_init(&sigint_w, simfleet_stop_cb, SIGINT);
	ev_signal_init(&sigusr1_w, simfleet_usr1_cb, SIGUSR1);
	sigusr1_w.data = &f;
	ev_signal_start(f.loop, &sigterm_w);
	ev_signal_start(f.loop, &sigint_w);
	ev_signal_start(f.loop, &sigusr1_w);

	snprintf(path, sizeof(path), "%s/ready", dir);
	{
		char pid[32];
		int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		write_file(path, pid, (size_t)len);
	}
	ev_run(f.loop, 0);

	simsess_kill_all(SIGHUP);
	print_counters(&f);
	snprintf(path, sizeof(path), "%s/ready", dir);
	unlink(path);
	return 0;
}
