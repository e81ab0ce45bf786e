#include "httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "metrics.h"

#define INDEX_TEXT                                                          \
	"muster watch\n"                                                    \
	"\n"                                                                \
	"/metrics               Prometheus metrics of every watched host\n" \
	"/metrics?target=HOST   one host's metrics (one target per host)\n" \
	"/sd                    the hosts as Prometheus http_sd targets\n"
#define TEXT_TYPE "text/plain; charset=utf-8"

/*
 * One published text. Responses under way hold a reference each, so a
 * publish never waits for a slow client and a client never sees a text
 * freed or changed under it.
 */
struct snapshot_target {
	const char *name; /* in data */
	size_t off, len;  /* the host's text in data */
	bool down;
};

struct snapshot {
	struct httpd *owner;
	size_t refs;			 /* under owner->lock */
	size_t len;			 /* every host's text: data[0..len) */
	size_t sd_off, sd_len;		 /* the /sd JSON, sd_len 0 if none */
	struct snapshot_target *targets; /* sorted by name */
	size_t ntargets;
	uint8_t data[];
};

struct httpd {
	struct MHD_Daemon *daemon;
	uint16_t port;
	pthread_mutex_t lock;
	/* under lock: */
	struct snapshot *current; /* NULL before the first publish */
	size_t nerrors;
	char last_error[256];
};

static void
snapshot_unref(struct snapshot *s)
{
	struct httpd *h = s->owner;
	bool last;

	pthread_mutex_lock(&h->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&h->lock);
	if (last) {
		free(s->targets);
		free(s);
	}
}

/* libmicrohttpd's log, kept for httpd_errors: printing from its thread
 * would tear through the live view. */
static void
httpd_on_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char msg[sizeof(h->last_error)];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '.'))
		msg[--len] = '\0';
	pthread_mutex_lock(&h->lock);
	memcpy(h->last_error, msg, len + 1);
	h->nerrors++;
	pthread_mutex_unlock(&h->lock);
}

/* --- requests (on the libmicrohttpd thread) ---------------------------- */

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if ((resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
		 MHD_RESPMEM_PERSISTENT)) == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		TEXT_TYPE) != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    "GET, HEAD") != MHD_YES) ||
	    (status == MHD_HTTP_SERVICE_UNAVAILABLE &&
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
		    "1") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
httpd_on_response_done(void *cls)
{
	snapshot_unref(cls);
}

static int
httpd_target_cmp(const void *key, const void *elem)
{
	const struct snapshot_target *t = elem;

	return strcmp(key, t->name);
}

/*
 * /metrics, /metrics?target=HOST (one host's text, as the multi-target
 * exporters serve it) or /sd. A target that is not watched is 404, not an
 * empty 200: Prometheus then marks it down rather than healthy.
 */
static enum MHD_Result
reply_metrics(struct httpd *h, struct MHD_Connection *conn, bool sd)
{
	const struct snapshot_target *t = NULL;
	struct MHD_Response *resp;
	struct snapshot *s;
	enum MHD_Result ret;
	const char *target;
	size_t off = 0, len;
	unsigned int status = MHD_HTTP_OK;

	target = sd ?
	    NULL :
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "target");
	pthread_mutex_lock(&h->lock);
	if ((s = h->current) != NULL)
		s->refs++;
	pthread_mutex_unlock(&h->lock);
	if (s == NULL)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "no metrics yet\n");
	len = s->len;
	if (sd) {
		off = s->sd_off;
		len = s->sd_len;
	} else if (target != NULL) {
		if ((t = bsearch(target, s->targets, s->ntargets, sizeof(*t),
			 httpd_target_cmp)) == NULL) {
			snapshot_unref(s);
			return reply_text(conn, MHD_HTTP_NOT_FOUND,
			    "no such target: not a watched host\n");
		}
		off = t->off;
		len = t->len;
		if (t->down)
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	/* From here on the response owns the reference. */
	if ((resp = MHD_create_response_from_buffer_with_free_callback_cls(len,
		 s->data + off, httpd_on_response_done, s)) == NULL) {
		snapshot_unref(s);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		sd ? "application/json" : METRICS_CONTENT_TYPE) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Answered on the first call, before any request body: nothing here takes
 * a body, and libmicrohttpd closes the connection rather than read one
 * that was not consumed.
 */
static enum MHD_Result
httpd_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct httpd *h = cls;
	bool metrics = strcmp(url, "/metrics") == 0;
	bool sd = strcmp(url, "/sd") == 0;

	if (!metrics && !sd && strcmp(url, "/") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed\n");
	if (metrics || sd)
		return reply_metrics(h, conn, sd);
	return reply_text(conn, MHD_HTTP_OK, INDEX_TEXT);
}

/* --- the loop thread's side -------------------------------------------- */

/* Decimal 0..65535, digits only (no sign, blanks or "0x"). */
static bool
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 5)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static int
parse_addrport(const char *addrport, struct sockaddr_storage *ss, bool *v6,
    uint16_t *port, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *portstr, *sep;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_in *sin;
	size_t hostlen;

	memset(ss, 0, sizeof(*ss));
	if ((*v6 = addrport[0] == '[')) {
		if ((sep = strchr(addrport, ']')) == NULL || sep[1] != ':') {
			snprintf(err, errlen,
			    "\"%s\": expected [IPv6]:PORT, "
			    "as in [::1]:9464",
			    addrport);
			return MERR_PARSE;
		}
		hostlen = (size_t)(sep - addrport) - 1;
		memcpy(host, addrport + 1,
		    hostlen < sizeof(host) ? hostlen : 0);
		portstr = sep + 2;
	} else {
		if ((sep = strrchr(addrport, ':')) == NULL) {
			snprintf(err, errlen,
			    "\"%s\": expected ADDRESS:PORT, "
			    "as in 127.0.0.1:9464",
			    addrport);
			return MERR_PARSE;
		}
		if (memchr(addrport, ':', (size_t)(sep - addrport)) != NULL) {
			snprintf(err, errlen,
			    "\"%s\": an IPv6 address goes in "
			    "brackets, as in [::1]:9464",
			    addrport);
			return MERR_PARSE;
		}
		hostlen = (size_t)(sep - addrport);
		memcpy(host, addrport, hostlen < sizeof(host) ? hostlen : 0);
		portstr = sep + 1;
	}
	if (hostlen == 0) {
		snprintf(err, errlen,
		    "\"%s\": an address is required: "
		    "127.0.0.1:PORT for this host only, 0.0.0.0:PORT for "
		    "every interface",
		    addrport);
		return MERR_PARSE;
	}
	if (!parse_port(portstr, port)) {
		snprintf(err, errlen,
		    "\"%s\": the port must be a number from "
		    "0 to 65535",
		    addrport);
		return MERR_PARSE;
	}
	if (hostlen >= sizeof(host))
		goto bad_address;
	host[hostlen] = '\0';
	if (!*v6) {
		/* inet_pton, not inet_aton: "127.1" or "0x7f.1" are
		 * more likely typos than intent. */
		sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_address;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(*port);
		return 0;
	}
	/* getaddrinfo rather than inet_pton for the "%eth0" scope of a
	 * link-local address. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(*ss)) {
		if (ai != NULL)
			freeaddrinfo(ai);
		goto bad_address;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	((struct sockaddr_in6 *)ss)->sin6_port = htons(*port);
	freeaddrinfo(ai);
	return 0;
bad_address:
	snprintf(err, errlen,
	    "\"%s\": \"%.*s\" is not a numeric %s address "
	    "(names are not looked up)",
	    addrport, (int)hostlen, addrport + (*v6 ? 1 : 0),
	    *v6 ? "IPv6" : "IPv4");
	return MERR_PARSE;
}

int
httpd_start(const char *addrport, struct httpd **out, char *err, size_t errlen)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	sigset_t all, saved;
	struct httpd *h;
	unsigned int flags;
	uint16_t port;
	bool v6;
	int r;

	*out = NULL;
	if ((r = parse_addrport(addrport, &ss, &v6, &port, err, errlen)) != 0)
		return r;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "%s", merr_str(MERR_NOMEM));
		return MERR_NOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	/* Epoll (MHD_USE_AUTO) because select cannot watch descriptors past
	 * FD_SETSIZE, which a controller with a thousand SSH connections
	 * passes. A plain IPv6 flag means IPV6_V6ONLY: bind only what was
	 * asked for. */
	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	/* The server thread inherits a full mask, so SIGINT, SIGTERM and
	 * SIGCHLD always reach the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	h->daemon = MHD_start_daemon(flags, port, NULL, NULL, httpd_on_request,
	    h, MHD_OPTION_EXTERNAL_LOGGER, httpd_on_log, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTPD_CONNECTION_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)HTTPD_CONNECTION_TIMEOUT, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (h->daemon == NULL) {
		snprintf(err, errlen, "\"%s\": cannot serve HTTP: %s",
		    addrport,
		    h->last_error[0] != '\0' ?
			h->last_error :
			"libmicrohttpd failed to start");
		pthread_mutex_destroy(&h->lock);
		free(h);
		return MERR_IO;
	}
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info != NULL ? info->port : port;
	pthread_mutex_lock(&h->lock);
	h->nerrors = 0;
	h->last_error[0] = '\0';
	pthread_mutex_unlock(&h->lock);
	*out = h;
	return 0;
}

uint16_t
httpd_port(const struct httpd *h)
{
	return h->port;
}

static int
httpd_snapshot_target_cmp(const void *a, const void *b)
{
	const struct snapshot_target *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
httpd_publish(struct httpd *h, const uint8_t *text, size_t len)
{
	return httpd_publish_site(h, text, len, NULL, 0, NULL, 0);
}

int
httpd_publish_site(struct httpd *h, const uint8_t *text, size_t len,
    const struct httpd_target *targets, size_t ntargets, const uint8_t *sd,
    size_t sdlen)
{
	struct snapshot *s, *old;
	size_t total = len + sdlen, i, n;
	uint8_t *p;

	for (i = 0; i < ntargets; i++) {
		n = strlen(targets[i].name) + 1;
		if (targets[i].len > SIZE_MAX / 2 - total ||
		    n > SIZE_MAX / 2 - total - targets[i].len)
			return MERR_LIMIT;
		total += targets[i].len + n;
	}
	if (total > SIZE_MAX - sizeof(*s))
		return MERR_LIMIT;
	if ((s = malloc(sizeof(*s) + total)) == NULL)
		return MERR_NOMEM;
	s->targets = NULL;
	if (ntargets > 0 &&
	    (s->targets = calloc(ntargets, sizeof(*s->targets))) == NULL) {
		free(s);
		return MERR_NOMEM;
	}
	s->owner = h;
	s->refs = 1;
	s->len = len;
	s->ntargets = ntargets;
	p = s->data;
	if (len > 0)
		memcpy(p, text, len);
	p += len;
	s->sd_off = (size_t)(p - s->data);
	s->sd_len = sdlen;
	if (sdlen > 0)
		memcpy(p, sd, sdlen);
	p += sdlen;
	for (i = 0; i < ntargets; i++) {
		s->targets[i].off = (size_t)(p - s->data);
		s->targets[i].len = targets[i].len;
		s->targets[i].down = targets[i].down;
		if (targets[i].len > 0)
			memcpy(p, targets[i].text, targets[i].len);
		p += targets[i].len;
		n = strlen(targets[i].name) + 1;
		memcpy(p, targets[i].name, n);
		s->targets[i].name = (const char *)p;
		p += n;
	}
	if (ntargets > 0)
		qsort(s->targets, ntargets, sizeof(*s->targets),
		    httpd_snapshot_target_cmp);
	pthread_mutex_lock(&h->lock);
	old = h->current;
	h->current = s;
	pthread_mutex_unlock(&h->lock);
	if (old != NULL)
		snapshot_unref(old);
	return 0;
}

size_t
httpd_errors(struct httpd *h, char *last, size_t lastlen)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = h->nerrors;
	if (last != NULL && lastlen > 0)
		snprintf(last, lastlen, "%s", h->last_error);
	h->nerrors = 0;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	/* Joins the server thread; the responses it still held are
	 * destroyed, dropping their snapshot references. */
	MHD_stop_daemon(h->daemon);
	if (h->current != NULL)
		snapshot_unref(h->current);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
