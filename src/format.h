/* Turning record values into text for people: no printing here, the
 * commands print. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* argv (a JSON array of byte strings) as one shell-quoted line. */
char *format_argv(const json_t *argv);
/* s for a terminal: valid UTF-8 passes, control characters (C0, DEL,
 * C1) and bytes that are not UTF-8 become \xHH (NULL for NULL). */
char *format_escape(const char *s);
/* 0.003s, 12.4s, 3m05s, 2h01m */
char *format_duration(double seconds);
/* 512 B, 1.5 KiB, 3.2 GiB */
char *format_bytes(uint64_t n);
/* An RFC 3339 UTC time as local "YYYY-MM-DD HH:MM:SS"; NULL if invalid. */
char *format_local_time(const char *rfc3339);
/* When a record's run started and how long it ran: "YYYY-MM-DD
 * HH:MM:SS, ran 3.2s" (local time; "?" without one; no duration
 * without one). */
char *format_created_ran(const json_t *rec);
/* A JSON value for one line: strings bare, numbers short, others compact. */
char *format_value(const json_t *v);
/* A digest for people: "sha256:" and its first 12 hex digits ("-" for
 * NULL), in a static buffer that the next call reuses. */
const char *format_digest_short(const char *d);
/* ANSI colour for a status, "" when colour is off. */
const char *status_color(const char *status, bool color);
#define COLOR_RESET(c) ((c) ? "\033[0m" : "")
#define COLOR_BOLD(c) ((c) ? "\033[1m" : "")
