/*
 * The agent directory an operator names for a host (--agent-dir, the
 * inventory's agent_dir=): the one place its agent goes, with no fall back
 * to the others. The name reaches the host inside the start and probe
 * commands, whatever the login shell (sh, bash, zsh, fish, tcsh ...), so
 * it is held to characters no shell gives a meaning there: an absolute
 * path or ~/PATH of letters, digits, '.', '_', '-' and '/', no empty, "."
 * or ".." component, no trailing '/'.
 */
#ifndef MUSTER_AGENTDIR_H
#define MUSTER_AGENTDIR_H

#include <stdbool.h>
#include <stddef.h>

/* The longest agent directory: it is quoted into shell commands. */
#define AGENTDIR_MAX 200

/* True when dir is fit; else false with why written ("a relative path",
 * "the character ' '" ...). */
bool agentdir_ok(const char *dir, char *why, size_t whylen);

#endif
