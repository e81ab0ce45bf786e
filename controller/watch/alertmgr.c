#include "alertmgr.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "array.h"
#include "backoff.h"
#include "err.h"
#include "httppost.h"
#include "log.h"

#define BATCH_MAX 100
#define POST_TIMEOUT 10.0
#define RETRY_MIN 1.0
#define RETRY_MAX 60.0
#define HOST_DOWN_NAME "MusterHostDown"

struct am_item {
	char *key;    /* which alert: a newer state replaces it */
	json_t *body; /* one element of the posted array */
	bool firing;  /* endsAt is set when sent */
	uint64_t seq, sent_seq;
};

struct am_target {
	struct alertmgr *am;
	char *url, *host, *path;
	struct sockaddr_storage addr;
	socklen_t alen;
	struct httppost post;
	struct am_item *q;
	size_t nq, qcap;
	struct backoff backoff;
	ev_timer retry;
	bool failing; /* said so; say when it works again */
	double posts_ok, posts_failed, posts_refused;
};

struct alertmgr {
	struct ev_loop *loop;
	char *generator;
	struct am_target *targets;
	size_t ntargets;
	struct am_item *active; /* firing now: re-sent every ALERTMGR_RESEND */
	size_t nactive, acap;
	ev_timer resend;
	uint64_t seq;
	double dropped;
};

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* RFC 3339 in UTC with milliseconds, as Alertmanager writes them. */
static json_t *
time_json(double t)
{
	time_t secs = (time_t)t;
	struct tm tm;
	char text[48];
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof(text) - n, ".%03dZ",
	    (int)((t - (double)secs) * 1000) % 1000);
	return json_string(text);
}

static void
item_free(struct am_item *it)
{
	free(it->key);
	json_decref(it->body);
	memset(it, 0, sizeof(*it));
}

/* ---- the queue of one target ------------------------------------------- */

static void am_send_next(struct am_target *t);

static void
queue_remove(struct am_target *t, size_t i)
{
	item_free(&t->q[i]);
	memmove(&t->q[i], &t->q[i + 1], (t->nq - i - 1) * sizeof(*t->q));
	t->nq--;
}

static void
enqueue(struct am_target *t, const char *key, json_t *body, bool firing)
{
	struct am_item *it = NULL;
	size_t i;

	for (i = 0; i < t->nq && it == NULL; i++)
		if (strcmp(t->q[i].key, key) == 0)
			it = &t->q[i];
	if (it == NULL) {
		if (t->nq >= ALERTMGR_QUEUE_MAX) {
			/* Alertmanager has been away for a long time: the
			 * oldest news is the least worth keeping. */
			queue_remove(t, 0);
			t->am->dropped++;
		}
		if (ARRAY_RESERVE(t->q, t->qcap, t->nq + 1, 16) != 0 ||
		    (key = strdup(key)) == NULL) {
			t->am->dropped++;
			return;
		}
		it = &t->q[t->nq++];
		memset(it, 0, sizeof(*it));
		it->key = (char *)key;
	} else
		json_decref(it->body);
	it->body = json_incref(body);
	it->firing = firing;
	it->seq = ++t->am->seq;
	am_send_next(t);
}

static void
am_post_done(void *arg, int status, const char *line, const char *error)
{
	struct am_target *t = arg;
	size_t i;
	bool ok = status >= 200 && status < 300;
	/* 408 and 429 ask to come back; other 4xx say the alerts are wrong
	 * and would be refused again. */
	bool refused = status >= 400 && status < 500 && status != 408 &&
	    status != 429;
	double delay;

	for (i = t->nq; i-- > 0;) {
		struct am_item *it = &t->q[i];

		if (it->sent_seq != 0 && it->sent_seq == it->seq &&
		    (ok || refused))
			queue_remove(t, i);
		else
			it->sent_seq = 0;
	}
	if (ok || refused) {
		t->posts_ok += ok;
		t->posts_refused += refused;
		if (refused)
			log_error("--alertmanager %s: alerts refused: %s",
			    t->url, line);
		else if (t->failing)
			log_error("--alertmanager %s: reachable again",
			    t->url);
		t->failing = false;
		backoff_reset(&t->backoff);
		am_send_next(t);
		return;
	}
	t->posts_failed++;
	delay = backoff_next(&t->backoff);
	/* Once a streak, then quietly: the watch goes on regardless. */
	if (!t->failing)
		log_error("--alertmanager %s: %s%s; retrying (every %.0f s at "
			  "most), %zu alerts queued",
		    t->url, error != NULL ? error : "status ",
		    error ? "" : line, RETRY_MAX, t->nq);
	else
		log_debug("--alertmanager %s: %s%s; retry in %.1f s", t->url,
		    error != NULL ? error : "", error ? "" : line, delay);
	t->failing = true;
	ev_timer_set(&t->retry, delay, 0);
	ev_timer_start(t->am->loop, &t->retry);
}

static void
am_send_next(struct am_target *t)
{
	json_t *arr;
	char *body;
	size_t i, n;
	double ends = wall_now() + ALERTMGR_ENDS_AFTER;
	int r;

	if (t->nq == 0 || httppost_busy(&t->post) || ev_is_active(&t->retry) ||
	    (arr = json_array()) == NULL)
		return;
	n = t->nq < BATCH_MAX ? t->nq : BATCH_MAX;
	for (i = 0; i < n; i++) {
		if (t->q[i].firing)
			json_object_set_new(t->q[i].body, "endsAt",
			    time_json(ends));
		json_array_append(arr, t->q[i].body);
	}
	body = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (body == NULL)
		return; /* out of memory: the next event or resend tries */
	r = httppost_start(&t->post, (struct sockaddr *)&t->addr, t->alen,
	    t->host, t->path, body, strlen(body), POST_TIMEOUT);
	free(body);
	if (r != 0) {
		log_error("--alertmanager %s: %s", t->url, merr_str(r));
		return;
	}
	for (i = 0; i < n; i++)
		t->q[i].sent_seq = t->q[i].seq;
}

static void
am_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	am_send_next(w->data);
}

/* ---- alerts ------------------------------------------------------------- */

static void
all_targets(struct alertmgr *am, const char *key, json_t *body, bool firing)
{
	size_t i;

	for (i = 0; i < am->ntargets; i++)
		enqueue(&am->targets[i], key, body, firing);
}

static void
am_on_resend(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct alertmgr *am = w->data;
	size_t i;

	for (i = 0; i < am->nactive; i++)
		all_targets(am, am->active[i].key, am->active[i].body, true);
}

static ssize_t
active_find(const struct alertmgr *am, const char *key)
{
	size_t i;

	for (i = 0; i < am->nactive; i++)
		if (strcmp(am->active[i].key, key) == 0)
			return (ssize_t)i;
	return -1;
}

/* A host's name or an agent's message need not be UTF-8. */
static json_t *
text_json(const char *s)
{
	json_t *j = json_string(s);

	return j != NULL ? j : json_string("(invalid UTF-8)");
}

/* The alert's labels and annotations (startsAt set, endsAt not). */
static json_t *
alert_body(const struct alertmgr *am, const struct alert_event *ev)
{
	json_t *a = json_object(), *labels = json_object(),
	       *notes = json_object();
	char summary[512], value[40];
	size_t i;

	if (ev->rule != NULL) {
		const struct alert_rule *r = ev->rule;

		for (i = 0; i < r->nlabels; i++)
			json_object_set_new(labels, r->labels[i].name,
			    json_string(r->labels[i].value));
		json_object_set_new(labels, "alertname",
		    json_string(alert_rule_name(r)));
		json_object_set_new(labels, "rule", json_string(r->text));
		alert_format_number(value, sizeof(value), ev->value);
		snprintf(summary, sizeof(summary), "%s: %s (value %s)",
		    ev->host, r->text, value);
		json_object_set_new(notes, "value", json_string(value));
	} else {
		json_object_set_new(labels, "alertname",
		    json_string(HOST_DOWN_NAME));
		snprintf(summary, sizeof(summary), "%s is down%s%s", ev->host,
		    ev->detail != NULL ? ": " : "",
		    ev->detail != NULL ? ev->detail : "");
	}
	json_object_set_new(labels, "instance", text_json(ev->host));
	json_object_set_new(notes, "summary", text_json(summary));
	json_object_set_new(a, "labels", labels);
	json_object_set_new(a, "annotations", notes);
	json_object_set_new(a, "startsAt", time_json(ev->since));
	if (am->generator != NULL)
		json_object_set_new(a, "generatorURL",
		    json_string(am->generator));
	return a;
}

void
alertmgr_event(struct alertmgr *am, const struct alert_event *ev)
{
	json_t *body;
	char *key;
	ssize_t k;
	bool firing = ev->kind == AE_FIRING || ev->kind == AE_DOWN;

	if (asprintf(&key, "%c\x1f%s\x1f%s", ev->rule ? 'r' : 'd',
		ev->rule ? ev->rule->spec : "", ev->host) == -1)
		return;
	k = active_find(am, key);
	if (firing) {
		if ((body = alert_body(am, ev)) == NULL) {
			free(key);
			return;
		}
		if (k < 0 &&
		    ARRAY_RESERVE(am->active, am->acap, am->nactive + 1, 16) ==
			0) {
			k = (ssize_t)am->nactive;
			am->active[k].key = strdup(key);
			am->active[k].body = NULL;
			if (am->active[k].key != NULL)
				am->nactive++;
			else
				k = -1; /* sent once, not re-sent */
		}
		if (k >= 0) {
			json_decref(am->active[k].body);
			am->active[k].body = json_incref(body);
		}
	} else {
		/* Resolved: the alert as it was sent, ended now. An up for a
		 * host never reported down (or a rule never sent) is not
		 * news to Alertmanager. */
		if (k < 0) {
			free(key);
			return;
		}
		body = json_deep_copy(am->active[k].body);
		item_free(&am->active[k]);
		am->active[k] = am->active[--am->nactive];
		if (body == NULL) {
			free(key);
			return;
		}
		json_object_set_new(body, "endsAt", time_json(wall_now()));
	}
	all_targets(am, key, body, firing);
	json_decref(body);
	free(key);
}

/* ---- targets ------------------------------------------------------------ */

/* Decimal digits from s to end, 1 to 65535. */
static bool
port_ok(const char *s, const char *end)
{
	long v = 0;

	if (s == end || end - s > 5)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535;
}

/* "http://HOST[:PORT][/PREFIX]" into host, port and the API's path. */
static int
parse_url(const char *url, char **host, char **port, char **path, char *err,
    size_t errlen)
{
	const char *a, *h, *hend, *p, *rest;
	size_t plen;

	if (strncmp(url, "https://", 8) == 0) {
		snprintf(err, errlen,
		    "--alertmanager %s: https is not supported; use "
		    "http:// to an Alertmanager on this machine or the local "
		    "network, or a TLS proxy in front of it",
		    url);
		return MERR_PARSE;
	}
	if (strncmp(url, "http://", 7) != 0) {
		snprintf(err, errlen,
		    "--alertmanager %s: expected http://HOST[:PORT][/PREFIX]",
		    url);
		return MERR_PARSE;
	}
	a = url + 7;
	rest = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(rest - a)) != NULL || *rest == '?' ||
	    *rest == '#' || (*rest == '/' && strpbrk(rest, "?#") != NULL)) {
		snprintf(err, errlen,
		    "--alertmanager %s: user names, queries and fragments are "
		    "not supported",
		    url);
		return MERR_PARSE;
	}
	if (*a == '[') {
		h = a + 1;
		if ((hend = memchr(h, ']', (size_t)(rest - h))) == NULL) {
			snprintf(err, errlen,
			    "--alertmanager %s: '[' without ']'", url);
			return MERR_PARSE;
		}
		p = hend + 1;
	} else {
		h = a;
		hend = memchr(a, ':', (size_t)(rest - a));
		if (hend == NULL)
			hend = rest;
		p = hend;
	}
	if (hend == h || (p < rest && (*p != ':' || !port_ok(p + 1, rest)))) {
		snprintf(err, errlen,
		    "--alertmanager %s: expected http://HOST[:PORT][/PREFIX] "
		    "with a port from 1 to 65535",
		    url);
		return MERR_PARSE;
	}
	plen = strlen(rest);
	while (plen > 0 && rest[plen - 1] == '/')
		plen--;
	*host = strndup(h, (size_t)(hend - h));
	*port = p < rest ?
	    strndup(p + 1, (size_t)(rest - p - 1)) :
	    strdup("80");
	if (asprintf(path, "%.*s/api/v2/alerts", (int)plen, rest) == -1)
		*path = NULL;
	return *host && *port && *path ? 0 : MERR_NOMEM;
}

static int
target_init(struct alertmgr *am, struct am_target *t, const char *url,
    char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	char *name = NULL, *port = NULL;
	const char *a = url + 7;
	int r, gr;

	t->am = am;
	httppost_init(&t->post, am->loop, am_post_done, t);
	backoff_init(&t->backoff, RETRY_MIN, RETRY_MAX);
	ev_init(&t->retry, am_on_retry);
	t->retry.data = t;
	if ((t->url = strdup(url)) == NULL)
		return MERR_NOMEM;
	if ((r = parse_url(url, &name, &port, &t->path, err, errlen)) != 0)
		goto out;
	r = MERR_NOMEM;
	if ((t->host = strndup(a, strcspn(a, "/"))) == NULL)
		goto out;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gr = getaddrinfo(name, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "--alertmanager %s: %s: %s", url, name,
		    gr == EAI_SYSTEM ? strerror(errno) : gai_strerror(gr));
		r = MERR_NOTFOUND;
		goto out;
	}
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->alen = ai->ai_addrlen;
	freeaddrinfo(ai);
	r = 0;
out:
	free(name);
	free(port);
	return r;
}

int
alertmgr_new(struct ev_loop *loop, char *const *urls, size_t n,
    const char *generator, struct alertmgr **out, char *err, size_t errlen)
{
	struct alertmgr *am;
	size_t i;
	int r = MERR_NOMEM;

	if ((am = calloc(1, sizeof(*am))) == NULL ||
	    (am->targets = calloc(n, sizeof(*am->targets))) == NULL ||
	    (generator != NULL && (am->generator = strdup(generator)) == NULL))
		goto fail;
	am->loop = loop;
	for (i = 0; i < n; i++) {
		am->ntargets = i + 1;
		if ((r = target_init(am, &am->targets[i], urls[i], err,
			 errlen)) != 0)
			goto fail;
	}
	ev_timer_init(&am->resend, am_on_resend, ALERTMGR_RESEND,
	    ALERTMGR_RESEND);
	am->resend.data = am;
	ev_timer_start(loop, &am->resend);
	*out = am;
	return 0;
fail:
	if (r == MERR_NOMEM)
		snprintf(err, errlen, "--alertmanager: %s", merr_str(r));
	alertmgr_free(am);
	return r;
}

void
alertmgr_free(struct alertmgr *am)
{
	size_t i, k;

	if (am == NULL)
		return;
	ev_timer_stop(am->loop, &am->resend);
	for (i = 0; am->targets != NULL && i < am->ntargets; i++) {
		struct am_target *t = &am->targets[i];

		httppost_cancel(&t->post);
		buf_free(&t->post.req);
		ev_timer_stop(am->loop, &t->retry);
		for (k = 0; k < t->nq; k++)
			item_free(&t->q[k]);
		free(t->q);
		free(t->url);
		free(t->host);
		free(t->path);
	}
	for (i = 0; i < am->nactive; i++)
		item_free(&am->active[i]);
	free(am->active);
	free(am->targets);
	free(am->generator);
	free(am);
}

/* ---- self-metrics ------------------------------------------------------- */

/* A label value: \, " and newline escaped. */
static void
label_escape(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s;
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
}

static int
put_family(struct buf *out, const char *name, const char *type,
    const char *help)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n",
	    name, help, name, type);

	return buf_append(out, line, (size_t)n);
}

static int
put_sample(struct buf *out, const char *name, const char *url,
    const char *result, double v)
{
	char line[1024], esc[600];
	int n;

	label_escape(esc, sizeof(esc), url);
	n = snprintf(line, sizeof(line), "%s{url=\"%s\"%s%s%s} %.17g\n", name,
	    esc, result ? ",result=\"" : "", result ? result : "",
	    result ? "\"" : "", v);
	if (n < 0 || (size_t)n >= sizeof(line))
		return MERR_LIMIT;
	return buf_append(out, line, (size_t)n);
}

int
alertmgr_render_metrics(const struct alertmgr *am, struct buf *out)
{
	char line[256];
	size_t i;
	int r, n;

	if ((r = put_family(out, "muster_alertmanager_alerts_dropped_total",
		 "counter",
		 "Alerts dropped because an Alertmanager queue was full.")) !=
	    0)
		return r;
	n = snprintf(line, sizeof(line),
	    "muster_alertmanager_alerts_dropped_total %.17g\n", am->dropped);
	if ((r = buf_append(out, line, (size_t)n)) != 0 ||
	    (r = put_family(out, "muster_alertmanager_posts_total", "counter",
		 "Posts to Alertmanager by result (ok, failed: to be "
		 "retried, refused: 4xx).")) != 0)
		return r;
	for (i = 0; i < am->ntargets; i++) {
		const struct am_target *t = &am->targets[i];

		if ((r = put_sample(out, "muster_alertmanager_posts_total",
			 t->url, "ok", t->posts_ok)) != 0 ||
		    (r = put_sample(out, "muster_alertmanager_posts_total",
			 t->url, "failed", t->posts_failed)) != 0 ||
		    (r = put_sample(out, "muster_alertmanager_posts_total",
			 t->url, "refused", t->posts_refused)) != 0)
			return r;
	}
	if ((r = put_family(out, "muster_alertmanager_queued_alerts", "gauge",
		 "Alerts waiting to be posted to Alertmanager.")) != 0)
		return r;
	for (i = 0; i < am->ntargets; i++)
		if ((r = put_sample(out, "muster_alertmanager_queued_alerts",
			 am->targets[i].url, NULL,
			 (double)am->targets[i].nq)) != 0)
			return r;
	return 0;
}
