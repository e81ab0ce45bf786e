/*
 * The HTTP endpoint of `muster watch --prometheus ADDR:PORT`: GET /metrics
 * serves the newest text the event loop published, GET
 * /metrics?target=HOST one host's, GET /sd the hosts as Prometheus
 * http_sd targets, GET / a short index.
 * libmicrohttpd answers on its own thread, so a slow or stuck scraper
 * never holds up the loop; the two threads share only the published
 * snapshot, swapped under a mutex.
 */
#ifndef MUSTER_HTTPD_H
#define MUSTER_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpd;

/* Connections served at once. libmicrohttpd stops accepting at the limit:
 * further clients wait in the listen backlog until a slot frees. */
#define HTTPD_CONNECTION_LIMIT 16
/* Seconds a connection may stay idle before it is closed. */
#define HTTPD_CONNECTION_TIMEOUT 10

/*
 * Listen on addrport and start serving. addrport is "IPv4:PORT" or
 * "[IPv6]:PORT" with a numeric address (no name lookups, and no default
 * address: exposing metrics beyond localhost must be a visible choice,
 * such as 0.0.0.0:9464). PORT 0 takes any free port; see httpd_port.
 * Until the first httpd_publish, /metrics answers 503.
 *
 * MERR_PARSE for a malformed addrport, MERR_IO when the server cannot
 * start (address in use, not local, ...), MERR_NOMEM; err says why and
 * names addrport.
 */
int httpd_start(const char *addrport, struct httpd **out, char *err,
    size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t httpd_port(const struct httpd *h);

/*
 * Make text[0..len) what /metrics serves from now on. The text is copied;
 * requests already under way finish with the text they started with.
 * Cheap for the caller: one copy and a pointer swap under the lock.
 * MERR_NOMEM leaves the previous text in place.
 */
int httpd_publish(struct httpd *h, const uint8_t *text, size_t len);

/* One host's text for /metrics?target=NAME. */
struct httpd_target {
	const char *name;
	const uint8_t *text;
	size_t len;
	/* Served with 503: the host is down, and Prometheus's `up` for
	 * its target must say so, as it would for a node_exporter that
	 * does not answer. */
	bool down;
};

/*
 * httpd_publish with the per-host texts of the multi-target pattern
 * (/metrics?target=NAME answers targets[i]'s text, an unknown NAME 404)
 * and the http_sd JSON that /sd serves (sd NULL: /sd serves an empty
 * body). Everything is copied. MERR_NOMEM, MERR_LIMIT.
 */
int httpd_publish_site(struct httpd *h, const uint8_t *text, size_t len,
    const struct httpd_target *targets, size_t ntargets, const uint8_t *sd,
    size_t sdlen);

/*
 * Messages libmicrohttpd logged since the previous call (accept failures,
 * connection limit reached, ...): returns their number and copies the
 * newest into last (may be NULL). The library never prints; the caller
 * decides whether these are worth showing.
 */
size_t httpd_errors(struct httpd *h, char *last, size_t lastlen);

/* Stop serving, close every connection, join the server thread and free
 * h. NULL is ignored. */
void httpd_stop(struct httpd *h);

#endif
