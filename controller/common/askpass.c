#include "askpass.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "err.h"

#define PASSWORD_FILE_MAX 4096

static volatile sig_atomic_t caught;

static void
askpass_on_signal(int sig)
{
	caught = sig;
}

static const int trapped[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NTRAPPED (sizeof(trapped) / sizeof(trapped[0]))

int
askpass_tty(const char *prompt, char *buf, size_t len)
{
	struct sigaction sa, old[NTRAPPED];
	struct termios saved, quiet;
	size_t n = 0, i;
	bool restore = false, full = false;
	ssize_t got;
	char c;
	int fd, r = 0;

	if (len == 0)
		return MERR_LIMIT;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return MERR_NOTFOUND;
	/* No SA_RESTART: the read must return so the echo comes back
	 * before the signal takes its course. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = askpass_on_signal;
	sigemptyset(&sa.sa_mask);
	caught = 0;
	for (i = 0; i < NTRAPPED; i++)
		sigaction(trapped[i], &sa, &old[i]);
	if (tcgetattr(fd, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
		r = MERR_IO;
	while (r == 0 && !caught) {
		got = read(fd, &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = MERR_IO;
			break;
		}
		if (got == 0 || c == '\n' || c == '\r')
			break;
		/* Keep reading to the end of the line either way, so the
		 * rest is not left for the shell. */
		if (n + 1 < len)
			buf[n++] = c;
		else
			full = true;
	}
	buf[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &saved);
	if (write(fd, "\n", 1) < 0) {
		/* The newline is cosmetic. */
	}
	close(fd);
	for (i = 0; i < NTRAPPED; i++)
		sigaction(trapped[i], &old[i], NULL);
	if (caught) {
		explicit_bzero(buf, len);
		raise(caught);
		return MERR_IO;
	}
	if (r == 0 && full)
		r = MERR_LIMIT;
	if (r != 0)
		explicit_bzero(buf, len);
	return r;
}

int
askpass_file(const char *path, char **out, char *err, size_t errlen)
{
	char data[PASSWORD_FILE_MAX + 1];
	struct stat st;
	ssize_t got;
	size_t n = 0;
	int fd, r = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MERR_SYS;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		r = MERR_INVAL;
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		    "password file %s is accessible by "
		    "others (mode %04o); refusing it. Fix with: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		r = MERR_INVAL;
		goto out;
	}
	while (n < sizeof(data) - 1 &&
	    (got = read(fd, data + n, sizeof(data) - 1 - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			r = MERR_SYS;
			goto out;
		}
		n += (size_t)got;
	}
	data[n] = '\0';
	data[strcspn(data, "\r\n")] = '\0';
	if ((*out = strdup(data)) == NULL)
		r = MERR_NOMEM;
out:
	explicit_bzero(data, sizeof(data));
	close(fd);
	return r;
}
