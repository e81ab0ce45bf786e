#include "alertexec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "spawnattr.h"

extern char **environ;

#define ALERT_ENV_PREFIX "MUSTER_ALERT_"
#define LABEL_ENV_PREFIX "MUSTER_ALERT_LABEL_"

const char *
alert_event_kind_str(enum alert_event_kind k)
{
	switch (k) {
	case AE_FIRING: return "firing";
	case AE_RESOLVED: return "resolved";
	case AE_DOWN: return "down";
	case AE_UP: return "up";
	}
	return "?";
}

/* Host names and agents' messages need not be UTF-8; JSON must be. */
static json_t *
text_json(const char *s)
{
	json_t *j = json_string(s);

	return j != NULL ? j : json_string("(invalid UTF-8)");
}

json_t *
alert_event_json(const struct alert_event *ev, double now)
{
	json_t *o = json_object(), *labels;
	char detail[ALERT_EXPR_MAX + 128];
	size_t i;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "event",
	    json_string(
		ev->rule != NULL ? "alert" : alert_event_kind_str(ev->kind)));
	json_object_set_new(o, "host", text_json(ev->host));
	json_object_set_new(o, "ts", json_real(now));
	if (ev->rule != NULL) {
		snprintf(detail, sizeof(detail), "%s %s (value %.2f)",
		    ev->rule->text, alert_event_kind_str(ev->kind), ev->value);
		json_object_set_new(o, "detail", json_string(detail));
	} else
		json_object_set_new(o, "detail",
		    ev->detail != NULL ? text_json(ev->detail) : json_null());
	json_object_set_new(o, "state",
	    json_string(alert_event_kind_str(ev->kind)));
	json_object_set_new(o, "since", json_real(ev->since));
	if (ev->rule == NULL)
		return o;
	json_object_set_new(o, "rule", json_string(ev->rule->text));
	json_object_set_new(o, "name", json_string(alert_rule_name(ev->rule)));
	json_object_set_new(o, "value", json_real(ev->value));
	if ((labels = json_object()) != NULL) {
		for (i = 0; i < ev->rule->nlabels; i++)
			json_object_set_new(labels, ev->rule->labels[i].name,
			    json_string(ev->rule->labels[i].value));
		json_object_set_new(o, "labels", labels);
	}
	return o;
}

/* "NAMEvalue" (name ends in '=') or "PREFIXNAME=value" into *slot. */
static int
env_entry(char **slot, const char *prefix, const char *name, const char *value)
{
	if (asprintf(slot, "%s%s=%s", prefix, name, value) == -1) {
		*slot = NULL;
		return MERR_NOMEM;
	}
	return 0;
}

/* "name=value\n..." of the rule's labels. */
static char *
labels_text(const struct alert_rule *r)
{
	size_t len = 1, i, off = 0;
	char *text;

	for (i = 0; i < r->nlabels; i++)
		len += strlen(r->labels[i].name) + strlen(r->labels[i].value) +
		    2;
	if ((text = malloc(len)) == NULL)
		return NULL;
	text[0] = '\0';
	for (i = 0; i < r->nlabels; i++)
		off += (size_t)snprintf(text + off, len - off, "%s=%s\n",
		    r->labels[i].name, r->labels[i].value);
	return text;
}

/* The event's MUSTER_ALERT_* entries into added (NULL-terminated, room
 * for 10 plus one a label). */
static int
event_entries(char **added, const struct alert_event *ev)
{
	char valtext[40], timetext[24], sincetext[40], *labels;
	size_t n = 0, i;
	int r;

	snprintf(timetext, sizeof(timetext), "%lld", (long long)time(NULL));
	alert_format_number(sincetext, sizeof(sincetext), ev->since);
	if ((r = env_entry(&added[n++], ALERT_ENV_PREFIX, "HOST", ev->host)) !=
		0 ||
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "STATE",
		 alert_event_kind_str(ev->kind))) != 0 ||
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "TIME", timetext)) !=
		0 ||
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "SINCE",
		 sincetext)) != 0)
		return r;
	if (ev->detail != NULL &&
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "DETAIL",
		 ev->detail)) != 0)
		return r;
	if (ev->rule == NULL)
		return 0;
	alert_format_number(valtext, sizeof(valtext), ev->value);
	if ((r = env_entry(&added[n++], ALERT_ENV_PREFIX, "RULE",
		 ev->rule->text)) != 0 ||
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "NAME",
		 alert_rule_name(ev->rule))) != 0 ||
	    (r = env_entry(&added[n++], ALERT_ENV_PREFIX, "VALUE", valtext)) !=
		0)
		return r;
	if ((labels = labels_text(ev->rule)) == NULL)
		return MERR_NOMEM;
	r = env_entry(&added[n++], ALERT_ENV_PREFIX, "LABELS", labels);
	free(labels);
	for (i = 0; r == 0 && i < ev->rule->nlabels; i++)
		r = env_entry(&added[n++], LABEL_ENV_PREFIX,
		    ev->rule->labels[i].name, ev->rule->labels[i].value);
	return r;
}

static bool
is_ours(const char *entry)
{
	return strncmp(entry, ALERT_ENV_PREFIX, strlen(ALERT_ENV_PREFIX)) == 0;
}

static void
free_env(char **envp)
{
	size_t i;

	for (i = 0; envp[i] != NULL; i++)
		if (is_ours(envp[i]))
			free(envp[i]);
	free(envp);
}

/*
 * Our environment without MUSTER_ALERT_* (a muster started from an alert
 * command must not pass its parent's values on) plus this event's.
 * Built before posix_spawn: nothing may allocate between fork and exec
 * in a process with other threads.
 */
static int
build_env(char ***envp, const struct alert_event *ev)
{
	char **env;
	size_t n = 0, k = 0, i, extra = 11;
	int r;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if (ev->rule != NULL)
		extra += ev->rule->nlabels;
	if ((env = calloc(n + extra, sizeof(*env))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++)
		if (!is_ours(environ[i]))
			env[k++] = environ[i];
	if ((r = event_entries(env + k, ev)) != 0) {
		free_env(env);
		return r;
	}
	*envp = env;
	return 0;
}

int
alert_exec(const char *cmd, const struct alert_event *ev, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **envp = NULL;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int r, sr;

	if ((r = build_env(&envp, ev)) != 0)
		return r;
	if (posix_spawnattr_init(&attr) != 0) {
		free_env(envp);
		return MERR_NOMEM;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		posix_spawnattr_destroy(&attr);
		free_env(envp);
		return MERR_NOMEM;
	}
	if ((sr = spawnattr_own_group(&attr)) != 0 ||
	    (sr = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		 O_RDONLY, 0)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, 2, 1)) != 0 ||
	    /* Our descriptors are close-on-exec but not necessarily every
	     * library's; a long-running alert command must not hold the
	     * HTTP listener or a host connection open. */
	    (sr = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (sr = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, envp)) != 0) {
		errno = sr;
		r = MERR_SYS;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free_env(envp);
	return r;
}
