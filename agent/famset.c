#include "famset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Flat arrays that the Family messages point into: a family's values and
 * label values are contiguous because its series are added before the
 * next family opens, except when a family is continued later; then its
 * series are moved to the end (see famset_begin).
 */
static Muster__Family fams[FAMSET_FAMILIES_MAX];
static Muster__Family *famp[FAMSET_FAMILIES_MAX];
static size_t nfams;
static ProtobufCBinaryData lnames[FAMSET_FAMILIES_MAX * FAMSET_LABELS_MAX];
static double vals[FAMSET_SERIES_MAX];
static size_t nvals;
static ProtobufCBinaryData lvals[FAMSET_LABEL_VALUES_MAX];
static size_t nlvals;
static char text[FAMSET_TEXT_MAX];
static size_t ntext;
static Muster__Family *cur; /* open family, NULL if it did not fit */
static uint64_t dropped;

void
famset_reset(void)
{
	nfams = nvals = nlvals = ntext = 0;
	cur = NULL;
}

static int
copy_text(const char *s, ProtobufCBinaryData *out)
{
	size_t n = strlen(s);

	if (n > FAMSET_TEXT_MAX - ntext)
		return -1;
	/* A protobuf bytes field: its length is out->len, no NUL is read. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(text + ntext, s, n);
	out->data = (uint8_t *)text + ntext;
	out->len = n;
	ntext += n;
	return 0;
}

/* Move family f's series to the end of the arrays so that more can be
 * appended; the gap left behind is wasted until the next reset. */
static int
reopen(Muster__Family *f)
{
	size_t nl = f->n_label_values;

	if (f->values == vals + nvals - f->n_values &&
	    f->label_values == lvals + nlvals - nl)
		return 0;
	if (f->n_values > FAMSET_SERIES_MAX - nvals ||
	    nl > FAMSET_LABEL_VALUES_MAX - nlvals)
		return -1;
	memmove(vals + nvals, f->values, f->n_values * sizeof(*vals));
	memmove(lvals + nlvals, f->label_values, nl * sizeof(*lvals));
	f->values = vals + nvals;
	f->label_values = lvals + nlvals;
	nvals += f->n_values;
	nlvals += nl;
	return 0;
}

int
famset_begin(const char *name, enum famset_type type, size_t nlabels,
    const char *const *labels)
{
	Muster__Family *f;
	size_t i;

	cur = NULL;
	for (i = 0; i < nfams; i++) {
		f = &fams[i];
		if (f->name.len == strlen(name) &&
		    memcmp(f->name.data, name, f->name.len) == 0) {
			if (f->n_label_names != nlabels || reopen(f) != 0)
				goto drop;
			cur = f;
			return 0;
		}
	}
	if (nfams == FAMSET_FAMILIES_MAX || nlabels > FAMSET_LABELS_MAX)
		goto drop;
	f = &fams[nfams];
	muster__family__init(f);
	if (copy_text(name, &f->name) != 0)
		goto drop;
	f->type = type;
	f->label_names = &lnames[nfams * FAMSET_LABELS_MAX];
	for (i = 0; i < nlabels; i++)
		if (copy_text(labels[i], &f->label_names[i]) != 0)
			goto drop;
	f->n_label_names = nlabels;
	f->values = vals + nvals;
	f->label_values = lvals + nlvals;
	famp[nfams++] = f;
	cur = f;
	return 0;
drop:
	dropped++;
	return -1;
}

void
famset_add(double value, const char *const *values)
{
	size_t i, n, mark = ntext;

	if (cur == NULL)
		return;
	n = cur->n_label_names;
	if ((n > 0 && values == NULL) || nvals == FAMSET_SERIES_MAX ||
	    n > FAMSET_LABEL_VALUES_MAX - nlvals)
		goto drop;
	for (i = 0; i < n; i++)
		if (copy_text(values[i], &lvals[nlvals + i]) != 0) {
			ntext = mark;
			goto drop;
		}
	nlvals += n;
	cur->n_label_values += n;
	vals[nvals++] = value;
	cur->n_values++;
	return;
drop:
	dropped++;
}

void
famset_single(const char *name, enum famset_type type, double value)
{
	if (famset_begin(name, type, 0, NULL) == 0)
		famset_add(value, NULL);
}

void
famset_export(Muster__Sample *m)
{
	size_t i, n = 0;

	/* Families without series would render as bare HELP/TYPE lines. */
	for (i = 0; i < nfams; i++)
		if (famp[i]->n_values > 0)
			famp[n++] = famp[i];
	nfams = n;
	m->families = famp;
	m->n_families = nfams;
	cur = NULL;
}

uint64_t
famset_dropped(void)
{
	return dropped;
}

long
famset_slurp(int rootfd, const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r;
	char *nl;
	int fd, saved;

	if ((fd = openat(rootfd, path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	while (len < size - 1) {
		r = read(fd, buf + len, size - 1 - len);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			(void)close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	(void)close(fd);
	buf[len] = '\0';
	/* Full buffer: a cut line would read as a wrong value. */
	if (len == size - 1 && (nl = strrchr(buf, '\n')) != NULL) {
		nl[1] = '\0';
		len = (size_t)(nl + 1 - buf);
	}
	return (long)len;
}

char *
famset_line(char **pp)
{
	char *p = *pp, *nl;

	if (p == NULL || *p == '\0')
		return NULL;
	if ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		*pp = nl + 1;
	} else
		*pp = p + strlen(p);
	return p;
}

char *
famset_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

int
famset_number(const char *s, double *v)
{
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE)
		return -1;
	return 0;
}
