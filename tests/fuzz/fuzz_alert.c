/*
 * alert_parse on any --alert text; an accepted rule must re-parse from its
 * canonical text (spec, with the duration and the labels) to the same
 * rule, evaluate on a sample, and step through the state machine.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Muster__DiskUsage disk = MUSTER__DISK_USAGE__INIT;
	Muster__DiskUsage *disks[1] = { &disk };
	Muster__Sample s = MUSTER__SAMPLE__INIT;
	struct alert_rule rule, again;
	struct alert_state st = { AP_INACTIVE, 0 };
	char *text, err[1024];
	double value;
	size_t i;
	int r;

	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	r = alert_parse(text, &rule, err, sizeof(err));
	if (r != 0) {
		if (err[0] == '\0')
			abort();
		free(text);
		return 0;
	}
	if (alert_parse(rule.spec, &again, err, sizeof(err)) != 0 ||
	    again.metric != rule.metric || again.op != rule.op ||
	    again.for_s != rule.for_s || again.nlabels != rule.nlabels ||
	    strcmp(again.text, rule.text) != 0 ||
	    strcmp(again.spec, rule.spec) != 0 ||
	    strcmp(alert_rule_name(&again), alert_rule_name(&rule)) != 0 ||
	    (rule.mount == NULL) != (again.mount == NULL) ||
	    (rule.mount != NULL && strcmp(rule.mount, again.mount) != 0))
		abort();
	disk.mount.data = (uint8_t *)"/var";
	disk.mount.len = 4;
	disk.total_bytes = 1000;
	disk.used_bytes = 900;
	disk.avail_bytes = 100;
	s.n_disks = 1;
	s.disks = disks;
	s.cpu_pct = 95;
	for (i = 0; i < rule.nlabels; i++)
		if (strcmp(rule.labels[i].name, again.labels[i].name) != 0 ||
		    strcmp(rule.labels[i].value, again.labels[i].value) != 0)
			abort();
	r = alert_eval(&rule, &s, &value);
	/* Holding on every sample, it fires once the duration is over. */
	if (r == 1 &&
	    (alert_update(&st, r, 0, rule.for_s) != ALERT_NONE) !=
		(rule.for_s == 0))
		abort();
	if (r == 1 && rule.for_s > 0 &&
	    alert_update(&st, r, rule.for_s, rule.for_s) != ALERT_FIRED)
		abort();
	alert_rule_free(&again);
	alert_rule_free(&rule);
	free(text);
	return 0;
}
