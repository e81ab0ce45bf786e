/*
 * alertmgr.c and httppost.c against a small HTTP server on loopback, run
 * by the same libev loop: what is posted (Alertmanager's v2 alert
 * objects), resolution, a refusal that is not retried, a server that is
 * not there (retried, and the queue stays bounded), and URLs refused.
 */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "alertmgr.h"
#include "err.h"

struct server {
	int lfd, port, status;
	ev_io accept_io;
	ev_io conn_io;
	int cfd;
	char req[65536];
	size_t len;
	char *bodies[16];
	size_t nbodies;
};

static void
server_reply(struct server *sv, struct ev_loop *loop)
{
	char reply[128];
	int n = snprintf(reply, sizeof(reply),
	    "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n"
	    "\r\nok",
	    sv->status);

	assert_int_equal(write(sv->cfd, reply, (size_t)n), n);
	ev_io_stop(loop, &sv->conn_io);
	close(sv->cfd);
	sv->cfd = -1;
}

/* Reads one request to its Content-Length, however it arrives. */
static void
on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *sv = w->data;
	char *end, *cl;
	ssize_t n;
	size_t want;

	n = read(sv->cfd, sv->req + sv->len, sizeof(sv->req) - 1 - sv->len);
	assert_true(n > 0);
	sv->len += (size_t)n;
	sv->req[sv->len] = '\0';
	if ((end = strstr(sv->req, "\r\n\r\n")) == NULL)
		return;
	assert_non_null(cl = strstr(sv->req, "Content-Length: "));
	want = (size_t)atol(cl + 16);
	if (sv->len < (size_t)(end + 4 - sv->req) + want)
		return;
	assert_true(strncmp(sv->req, "POST /prefix/api/v2/alerts HTTP/1.1\r\n",
			37) == 0);
	assert_non_null(strstr(sv->req, "Content-Type: application/json\r\n"));
	assert_true(sv->nbodies < 16);
	sv->bodies[sv->nbodies++] = strndup(end + 4, want);
	server_reply(sv, loop);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *sv = w->data;

	assert_true((sv->cfd = accept(sv->lfd, NULL, NULL)) >= 0);
	sv->len = 0;
	ev_io_init(&sv->conn_io, on_conn, sv->cfd, EV_READ);
	sv->conn_io.data = sv;
	ev_io_start(loop, &sv->conn_io);
}

static int
listen_loopback(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
server_start(struct server *sv, struct ev_loop *loop, int status)
{
	memset(sv, 0, sizeof(*sv));
	sv->status = status;
	sv->cfd = -1;
	sv->lfd = listen_loopback(&sv->port);
	assert_int_equal(listen(sv->lfd, 8), 0);
	ev_io_init(&sv->accept_io, on_accept, sv->lfd, EV_READ);
	sv->accept_io.data = sv;
	ev_io_start(loop, &sv->accept_io);
}

static void
server_stop(struct server *sv, struct ev_loop *loop)
{
	size_t i;

	ev_io_stop(loop, &sv->accept_io);
	close(sv->lfd);
	for (i = 0; i < sv->nbodies; i++)
		free(sv->bodies[i]);
}

/* Run the loop until the server has n bodies (a bound, not a timing). */
static void
run_until(struct ev_loop *loop, struct server *sv, size_t n)
{
	int i;

	for (i = 0; i < 10000 && sv->nbodies < n; i++)
		ev_run(loop, EVRUN_ONCE);
	assert_int_equal(sv->nbodies, n);
}

static char *
metrics(const struct alertmgr *am)
{
	struct buf b;
	char *text;

	buf_init(&b, 1 << 20);
	assert_int_equal(alertmgr_render_metrics(am, &b), 0);
	text = strndup((const char *)buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return text;
}

static bool
has_metric(const struct alertmgr *am, const char *line)
{
	char *text = metrics(am);
	bool has = strstr(text, line) != NULL;

	free(text);
	return has;
}

/* The line shows once the loop has handled what is already there (the
 * reply written, a refused connect): bounded, never waiting on a clock. */
static void
assert_metric(struct ev_loop *loop, const struct alertmgr *am,
    const char *line)
{
	int i;

	for (i = 0; i < 100000 && !has_metric(am, line); i++)
		ev_run(loop, EVRUN_NOWAIT);
	if (!has_metric(am, line)) {
		char *text = metrics(am);

		fail_msg("no \"%s\" in:\n%s", line, text);
	}
}

static struct alertmgr *
am_new(struct ev_loop *loop, int port)
{
	char url[64], err[512] = "", *urls[1] = { url };
	struct alertmgr *am = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/prefix/", port);
	if (alertmgr_new(loop, urls, 1, "http://gen/", &am, err,
		sizeof(err)) != 0)
		fail_msg("alertmgr_new: %s", err);
	return am;
}

static void
test_fire_and_resolve(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct alert_event ev = { .kind = AE_FIRING,
		.host = "web1",
		.value = 93.5,
		.since = 1700000000.25 };
	struct alert_rule rule;
	struct alertmgr *am;
	struct server sv;
	json_t *arr, *a, *labels;
	char err[256];
	char url[96];

	assert_int_equal(alert_parse("disk_used_pct > 90 for 5m "
				     "severity=page team=ops",
			     &rule, err, sizeof(err)),
	    0);
	server_start(&sv, loop, 200);
	am = am_new(loop, sv.port);
	ev.rule = &rule;
	alertmgr_event(am, &ev);
	run_until(loop, &sv, 1);
	assert_non_null(arr = json_loads(sv.bodies[0], 0, NULL));
	assert_int_equal(json_array_size(arr), 1);
	a = json_array_get(arr, 0);
	labels = json_object_get(a, "labels");
	assert_string_equal(json_string_value(
				json_object_get(labels, "alertname")),
	    "disk_used_pct");
	assert_string_equal(
	    json_string_value(json_object_get(labels, "instance")), "web1");
	assert_string_equal(json_string_value(json_object_get(labels, "rule")),
	    "disk_used_pct > 90 for 5m");
	assert_string_equal(
	    json_string_value(json_object_get(labels, "severity")), "page");
	assert_string_equal(json_string_value(json_object_get(labels, "team")),
	    "ops");
	assert_int_equal(json_object_size(labels), 5);
	assert_string_equal(json_string_value(json_object_get(a, "startsAt")),
	    "2023-11-14T22:13:20.250Z");
	assert_non_null(json_object_get(a, "endsAt")); /* ahead: firing */
	assert_string_equal(json_string_value(
				json_object_get(a, "generatorURL")),
	    "http://gen/");
	assert_string_equal(
	    json_string_value(
		json_object_get(json_object_get(a, "annotations"), "summary")),
	    "web1: disk_used_pct > 90 for 5m (value 93.5)");
	json_decref(arr);

	ev.kind = AE_RESOLVED;
	alertmgr_event(am, &ev);
	run_until(loop, &sv, 2);
	assert_non_null(arr = json_loads(sv.bodies[1], 0, NULL));
	a = json_array_get(arr, 0);
	assert_string_equal(
	    json_string_value(
		json_object_get(json_object_get(a, "labels"), "instance")),
	    "web1");
	assert_non_null(json_object_get(a, "endsAt"));
	json_decref(arr);

	/* A host down and up; an up without a down is not sent. */
	ev = (struct alert_event){ .kind = AE_UP, .host = "db1", .since = 5 };
	alertmgr_event(am, &ev);
	ev.kind = AE_DOWN;
	ev.detail = "connection closed";
	alertmgr_event(am, &ev);
	run_until(loop, &sv, 3);
	assert_non_null(
	    strstr(sv.bodies[2], "\"alertname\":\"MusterHostDown\""));
	assert_non_null(
	    strstr(sv.bodies[2], "db1 is down: connection closed"));
	snprintf(url, sizeof(url),
	    "muster_alertmanager_posts_total{url=\"http://127.0.0.1:%d/"
	    "prefix/\",result=\"ok\"} 3\n",
	    sv.port);
	assert_metric(loop, am, url);
	assert_metric(loop, am,
	    "muster_alertmanager_alerts_dropped_total 0\n");
	alertmgr_free(am);
	server_stop(&sv, loop);
	alert_rule_free(&rule);
	ev_loop_destroy(loop);
}

/* 400: the alerts are wrong and would be again; dropped, not retried. */
static void
test_refused(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct alert_event ev = { .kind = AE_DOWN, .host = "h", .since = 1 };
	struct alertmgr *am;
	struct server sv;
	char line[128];

	server_start(&sv, loop, 400);
	am = am_new(loop, sv.port);
	alertmgr_event(am, &ev);
	run_until(loop, &sv, 1);
	snprintf(line, sizeof(line),
	    "muster_alertmanager_queued_alerts{url=\"http://127.0.0.1:%d/"
	    "prefix/\"} 0\n",
	    sv.port);
	assert_metric(loop, am, line);
	assert_metric(loop, am, "result=\"refused\"} 1\n");
	alertmgr_free(am);
	server_stop(&sv, loop);
	ev_loop_destroy(loop);
}

/* Nobody listens: the post fails and is retried later, and however many
 * alerts come meanwhile the queue holds ALERTMGR_QUEUE_MAX. */
static void
test_unreachable_bounded(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct alert_event ev = { .kind = AE_DOWN, .since = 1 };
	struct alertmgr *am;
	char host[32], line[160];
	int fd, port, i;

	fd = listen_loopback(&port);
	close(fd); /* bound, never listened: connections are refused */
	am = am_new(loop, port);
	for (i = 0; i < ALERTMGR_QUEUE_MAX + 500; i++) {
		snprintf(host, sizeof(host), "h%d", i);
		ev.host = host;
		alertmgr_event(am, &ev);
	}
	/* a newer state of a queued alert takes its place */
	ev.kind = AE_UP;
	alertmgr_event(am, &ev);
	snprintf(line, sizeof(line),
	    "muster_alertmanager_queued_alerts{url=\"http://127.0.0.1:%d/"
	    "prefix/\"} %d\n",
	    port, ALERTMGR_QUEUE_MAX);
	assert_metric(loop, am, line);
	assert_metric(loop, am,
	    "muster_alertmanager_alerts_dropped_total 500\n");
	assert_metric(loop, am, "result=\"failed\"} 1\n");
	alertmgr_free(am);
	ev_loop_destroy(loop);
}

static void
url_fails(const char *url, const char *want)
{
	char err[512] = "", *urls[1] = { (char *)url };
	struct alertmgr *am = NULL;

	assert_int_not_equal(
	    alertmgr_new(EV_DEFAULT, urls, 1, NULL, &am, err, sizeof(err)), 0);
	assert_null(am);
	if (strstr(err, want) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", url, err, want);
}

static void
test_urls(void **state)
{
	url_fails("https://127.0.0.1:9093", "https is not supported");
	url_fails("127.0.0.1:9093", "expected http://HOST[:PORT][/PREFIX]");
	url_fails("http://:9093", "expected http://HOST[:PORT][/PREFIX]");
	url_fails("http://127.0.0.1:", "port from 1 to 65535");
	url_fails("http://127.0.0.1:65536", "port from 1 to 65535");
	url_fails("http://127.0.0.1:9x", "port from 1 to 65535");
	url_fails("http://[::1", "'[' without ']'");
	url_fails("http://u:p@127.0.0.1:9093", "user names");
	url_fails("http://127.0.0.1:9093/?x=1", "queries");
	url_fails("http://no-such-host.invalid:9093", "no-such-host.invalid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fire_and_resolve),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_unreachable_bounded),
		cmocka_unit_test(test_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
