#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "httpd.h"
#include "metrics.h"

struct reply {
	int status;
	char *head; /* status line and headers, NUL-terminated */
	char *body;
	size_t body_len;
	size_t total; /* bytes received */
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A connected socket, reads time out so a broken server fails the test
 * instead of hanging it. */
static int
client_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct timeval tv = { 10, 0 };
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	assert_true((fd = socket(family, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		fail_msg("connect to port %u: %s", port, strerror(errno));
	return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Read to EOF and split into status, head and body. */
static void
read_reply(int fd, struct reply *rep)
{
	char *data = NULL, *sep;
	size_t len = 0, cap = 0;
	ssize_t r;

	memset(rep, 0, sizeof(*rep));
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			assert_non_null(data = realloc(data, cap + 1));
		}
		if ((r = recv(fd, data + len, cap - len, 0)) < 0 &&
		    errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET)
			break;
		if (r < 0)
			fail_msg("recv: %s", strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (data == NULL)
		assert_non_null(data = malloc(1));
	data[len] = '\0';
	rep->total = len;
	if ((sep = strstr(data, "\r\n\r\n")) == NULL) {
		rep->head = data;
		rep->status = -1;
		return;
	}
	*sep = '\0';
	rep->head = data;
	rep->body = sep + 4;
	rep->body_len = len - (size_t)(rep->body - data);
	assert_int_equal(sscanf(data, "HTTP/1.%*d %d", &rep->status), 1);
}

static void
reply_free(struct reply *rep)
{
	free(rep->head);
}

static void
request(uint16_t port, const char *raw, struct reply *rep)
{
	int fd = client_connect(AF_INET, port);

	send_all(fd, raw, strlen(raw));
	read_reply(fd, rep);
	close(fd);
}

static void
get(uint16_t port, const char *method, const char *path, struct reply *rep)
{
	char raw[512];

	snprintf(raw, sizeof(raw),
	    "%s %s HTTP/1.1\r\nHost: test\r\n"
	    "Connection: close\r\n\r\n",
	    method, path);
	request(port, raw, rep);
}

/* The head holds the header line "Name: value" (name case-insensitive). */
static void
assert_header(const struct reply *rep, const char *name, const char *value)
{
	char want[512];
	const char *p;

	snprintf(want, sizeof(want), "\r\n%s: %s", name, value);
	for (p = rep->head; (p = strcasestr(p, want)) != NULL; p++) {
		if (p[strlen(want)] == '\0' || p[strlen(want)] == '\r')
			return;
	}
	fail_msg("no header \"%s: %s\" in:\n%s", name, value, rep->head);
}

static struct httpd *
start(const char *addrport)
{
	struct httpd *h;
	char err[512] = "";

	if (httpd_start(addrport, &h, err, sizeof(err)) != 0)
		fail_msg("httpd_start %s: %s", addrport, err);
	assert_non_null(h);
	assert_int_not_equal(httpd_port(h), 0);
	return h;
}

static void
publish_str(struct httpd *h, const char *text)
{
	assert_int_equal(httpd_publish(h, (const uint8_t *)text, strlen(text)),
	    0);
}

static void
test_serve(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	uint16_t port = httpd_port(h);
	struct reply rep;

	/* nothing published yet */
	get(port, "GET", "/metrics", &rep);
	assert_int_equal(rep.status, 503);
	assert_header(&rep, "Retry-After", "1");
	reply_free(&rep);

	publish_str(h, "a 1\n");
	get(port, "GET", "/metrics", &rep);
	assert_int_equal(rep.status, 200);
	assert_header(&rep, "Content-Type", METRICS_CONTENT_TYPE);
	assert_header(&rep, "Content-Length", "4");
	assert_int_equal(rep.body_len, 4);
	assert_memory_equal(rep.body, "a 1\n", 4);
	reply_free(&rep);

	/* the query string does not matter */
	get(port, "GET", "/metrics?name[]=muster_up", &rep);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "a 1\n");
	reply_free(&rep);

	/* republishing changes what is served */
	publish_str(h, "b 2\nc 3\n");
	get(port, "GET", "/metrics", &rep);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "b 2\nc 3\n");
	reply_free(&rep);

	/* an empty text is a valid exposition */
	publish_str(h, "");
	get(port, "GET", "/metrics", &rep);
	assert_int_equal(rep.status, 200);
	assert_int_equal(rep.body_len, 0);
	reply_free(&rep);

	/* HTTP/1.0 without Host works too (curl -0, old scrapers) */
	publish_str(h, "d 4\n");
	request(port, "GET /metrics HTTP/1.0\r\n\r\n", &rep);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "d 4\n");
	reply_free(&rep);

	assert_int_equal(httpd_errors(h, NULL, 0), 0);
	httpd_stop(h);
}

static void
test_paths_and_methods(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	uint16_t port = httpd_port(h);
	struct reply rep;

	publish_str(h, "x 1\n");
	get(port, "GET", "/", &rep);
	assert_int_equal(rep.status, 200);
	assert_header(&rep, "Content-Type", "text/plain; charset=utf-8");
	assert_non_null(strstr(rep.body, "/metrics"));
	reply_free(&rep);

	get(port, "GET", "/nope", &rep);
	assert_int_equal(rep.status, 404);
	reply_free(&rep);
	get(port, "GET", "/metrics/", &rep);
	assert_int_equal(rep.status, 404);
	reply_free(&rep);
	get(port, "GET", "/metricsx", &rep);
	assert_int_equal(rep.status, 404);
	reply_free(&rep);

	get(port, "DELETE", "/metrics", &rep);
	assert_int_equal(rep.status, 405);
	assert_header(&rep, "Allow", "GET, HEAD");
	reply_free(&rep);
	get(port, "PUT", "/", &rep);
	assert_int_equal(rep.status, 405);
	reply_free(&rep);
	request(port,
	    "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5"
	    "\r\nConnection: close\r\n\r\nhello",
	    &rep);
	assert_int_equal(rep.status, 405);
	reply_free(&rep);

	/* HEAD: the headers of GET, no body */
	get(port, "HEAD", "/metrics", &rep);
	assert_int_equal(rep.status, 200);
	assert_header(&rep, "Content-Type", METRICS_CONTENT_TYPE);
	assert_int_equal(rep.body_len, 0);
	reply_free(&rep);

	/* still serving after all that */
	get(port, "GET", "/metrics", &rep);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "x 1\n");
	reply_free(&rep);
	httpd_stop(h);
}

#define BIG (8 * 1024 * 1024)

/*
 * A client that stops reading in the middle of a large text holds up
 * neither publish nor other clients, and still gets the whole text it
 * asked for even though newer ones replaced it meanwhile.
 */
static void
test_slow_client(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	uint16_t port = httpd_port(h);
	struct reply rep, fast;
	char *text;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\n"
			  "Connection: close\r\n\r\n";
	double t0;
	size_t i;
	int slow;

	assert_non_null(text = malloc(BIG));
	for (i = 0; i < BIG; i++)
		text[i] = "0123456789abcdef\n"[i % 17];
	assert_int_equal(httpd_publish(h, (uint8_t *)text, BIG), 0);
	slow = client_connect(AF_INET, port);
	send_all(slow, req, strlen(req));
	usleep(200 * 1000); /* the server has filled the socket buffers */

	t0 = now();
	for (i = 0; i < 20; i++)
		publish_str(h, i % 2 ? "new 1\n" : "new 2\n");
	assert_true(now() - t0 < 1.0);
	get(port, "GET", "/metrics", &fast);
	assert_int_equal(fast.status, 200);
	assert_string_equal(fast.body, "new 1\n");
	reply_free(&fast);

	read_reply(slow, &rep);
	close(slow);
	assert_int_equal(rep.status, 200);
	assert_int_equal(rep.body_len, BIG);
	assert_memory_equal(rep.body, text, BIG);
	reply_free(&rep);
	free(text);
	httpd_stop(h);
}

/* Stopping with a response half sent closes it and frees everything
 * (valgrind and ASan check the rest). */
static void
test_stop_with_open_connection(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	char *text;
	double t0;
	int busy, idle;

	assert_non_null(text = calloc(1, BIG));
	memset(text, 'x', BIG);
	assert_int_equal(httpd_publish(h, (uint8_t *)text, BIG), 0);
	free(text);
	busy = client_connect(AF_INET, httpd_port(h));
	send_all(busy, req, strlen(req));
	idle = client_connect(AF_INET, httpd_port(h));
	send_all(idle, "GET /met", 8);
	usleep(200 * 1000);
	t0 = now();
	httpd_stop(h);
	assert_true(now() - t0 < 5.0);
	close(busy);
	close(idle);
}

/*
 * Past HTTPD_CONNECTION_LIMIT, libmicrohttpd stops accepting: a further
 * client waits in the listen backlog until a slot frees, and is served
 * then.
 */
static void
test_connection_limit(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	uint16_t port = httpd_port(h);
	int fds[HTTPD_CONNECTION_LIMIT], extra, i;
	struct pollfd pfd;
	struct reply rep;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: t\r\n"
			  "Connection: close\r\n\r\n";

	publish_str(h, "m 1\n");
	for (i = 0; i < HTTPD_CONNECTION_LIMIT; i++) {
		fds[i] = client_connect(AF_INET, port);
		send_all(fds[i], "GET /metrics HTTP/1.1\r\n", 23);
	}
	usleep(300 * 1000);
	extra = client_connect(AF_INET, port);
	send_all(extra, req, strlen(req));
	pfd.fd = extra;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 500), 0);

	for (i = 0; i < HTTPD_CONNECTION_LIMIT; i++)
		close(fds[i]);
	read_reply(extra, &rep);
	close(extra);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "m 1\n");
	reply_free(&rep);
	httpd_stop(h);
}

/* What libmicrohttpd would log goes to httpd_errors, not to stderr. */
static void
test_errors_kept(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	struct reply rep;
	char last[256] = "";

	publish_str(h, "e 1\n");
	request(httpd_port(h),
	    "GET /metrics HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: five\r\nConnection: close\r\n\r\n",
	    &rep);
	assert_int_equal(rep.status, 400);
	reply_free(&rep);
	assert_true(httpd_errors(h, last, sizeof(last)) >= 1);
	assert_non_null(strstr(last, "400"));
	assert_int_equal(httpd_errors(h, last, sizeof(last)), 0);
	httpd_stop(h);
}

static void
test_ipv6(void **state)
{
	struct reply rep;
	struct httpd *h;
	char err[512];
	int fd;

	if (httpd_start("[::1]:0", &h, err, sizeof(err)) != 0) {
		print_message("no IPv6 loopback (%s): skipping\n", err);
		skip();
	}
	publish_str(h, "v6 1\n");
	fd = client_connect(AF_INET6, httpd_port(h));
	send_all(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25);
	read_reply(fd, &rep);
	close(fd);
	assert_int_equal(rep.status, 200);
	assert_string_equal(rep.body, "v6 1\n");
	reply_free(&rep);
	httpd_stop(h);
}

/* Bound only to the address given: not reachable over IPv6 when bound
 * to 127.0.0.1 (a wildcard or dual-stack bind would answer). */
static void
test_bound_to_address_only(void **state)
{
	struct httpd *h = start("127.0.0.1:0");
	struct sockaddr_in6 sin6;
	int fd;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(httpd_port(h));
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) >= 0) {
		assert_int_not_equal(
		    connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
		close(fd);
	}
	httpd_stop(h);
}

static void
start_fails(const char *addrport, int want_r, const char *want)
{
	struct httpd *h = (struct httpd *)&h;
	char err[512] = "";

	assert_int_equal(httpd_start(addrport, &h, err, sizeof(err)), want_r);
	assert_null(h);
	if (strstr(err, want) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", addrport, err, want);
}

static void
test_bad_addresses(void **state)
{
	start_fails("", MERR_PARSE, "expected ADDRESS:PORT");
	start_fails("9464", MERR_PARSE,
	    "\"9464\": expected ADDRESS:PORT, as "
	    "in 127.0.0.1:9464");
	start_fails(":9464", MERR_PARSE,
	    "an address is required: "
	    "127.0.0.1:PORT for this host only, 0.0.0.0:PORT for every "
	    "interface");
	start_fails("[]:9464", MERR_PARSE, "an address is required");
	start_fails("127.0.0.1:", MERR_PARSE,
	    "the port must be a number "
	    "from 0 to 65535");
	start_fails("127.0.0.1:65536", MERR_PARSE, "from 0 to 65535");
	start_fails("127.0.0.1:-1", MERR_PARSE, "from 0 to 65535");
	start_fails("127.0.0.1:+80", MERR_PARSE, "from 0 to 65535");
	start_fails("127.0.0.1:80x", MERR_PARSE, "from 0 to 65535");
	start_fails("127.0.0.1: 80", MERR_PARSE, "from 0 to 65535");
	start_fails("127.0.0.1:999999", MERR_PARSE, "from 0 to 65535");
	start_fails("localhost:9464", MERR_PARSE,
	    "\"localhost\" is not a "
	    "numeric IPv4 address (names are not looked up)");
	start_fails("127.1:9464", MERR_PARSE, "not a numeric IPv4 address");
	start_fails("256.0.0.1:9464", MERR_PARSE, "not a numeric IPv4");
	start_fails("::1:9464", MERR_PARSE,
	    "an IPv6 address goes in brackets, "
	    "as in [::1]:9464");
	start_fails("[::1]", MERR_PARSE, "expected [IPv6]:PORT");
	start_fails("[::1:9464", MERR_PARSE, "expected [IPv6]:PORT");
	start_fails("[::1]9464", MERR_PARSE, "expected [IPv6]:PORT");
	start_fails("[127.0.0.1]:9464", MERR_PARSE,
	    "\"127.0.0.1\" is not a "
	    "numeric IPv6 address");
	start_fails("[localhost]:9464", MERR_PARSE, "not a numeric IPv6");
	start_fails("[0123456789012345678901234567890123456789012345678901234"
		    "56789012345678901234567890123]:1",
	    MERR_PARSE,
	    "not a numeric "
	    "IPv6");
}

static void
test_address_in_use(void **state)
{
	struct httpd *h = start("127.0.0.1:0"), *h2 = NULL;
	char addr[64], err[512] = "";

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", httpd_port(h));
	assert_int_equal(httpd_start(addr, &h2, err, sizeof(err)), MERR_IO);
	assert_null(h2);
	if (strstr(err, addr) == NULL ||
	    strstr(err, "cannot serve HTTP") == NULL ||
	    strstr(err, "in use") == NULL)
		fail_msg("unclear error: %s", err);
	/* not a local address */
	assert_int_equal(httpd_start("192.0.2.1:0", &h2, err, sizeof(err)),
	    MERR_IO);
	assert_non_null(strstr(err, "ssign")); /* Cannot assign ... */
	httpd_stop(h);
	httpd_stop(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_paths_and_methods),
		cmocka_unit_test(test_slow_client),
		cmocka_unit_test(test_stop_with_open_connection),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_errors_kept),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bound_to_address_only),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_address_in_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
