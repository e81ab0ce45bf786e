/* An output into memory, for its tests (output_sink.h). */
#include "output_sink.h"

void
sink_open(struct sink *s, enum output_mode mode, bool raw, size_t max_capture)
{
	memset(s, 0, sizeof(*s));
	s->out = open_memstream(&s->out_text, &s->out_len);
	s->err = open_memstream(&s->err_text, &s->err_len);
	assert_non_null(s->out);
	assert_non_null(s->err);
	output_init(&s->o, mode, s->out, s->err, raw, max_capture);
}

void
sink_sync(struct sink *s)
{
	fflush(s->out);
	fflush(s->err);
}

void
sink_close(struct sink *s)
{
	output_free(&s->o);
	fclose(s->out);
	fclose(s->err);
	free(s->out_text);
	free(s->err_text);
}

void
feed(struct sink *s, struct output_host *h, int fd, const char *p, size_t n)
{
	assert_int_equal(output_host_data(&s->o, h, fd, (const uint8_t *)p, n),
	    0);
}

struct host_result
result(const char *host, enum host_status st, int code, int sig,
    const char *error)
{
	struct host_result r = { host, st, code, sig, 1234, error, false, NULL,
		NULL, 0 };

	return r;
}
