/* The run record <-> JSON. A Record wraps the parsed document; loading
 * checks that it is one xrun can read, and saving is atomic. No policy
 * lives here: what goes into a record is the runner's business. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#define RECORD_SCHEMA "xrun/run-record/1"
#define RECORD_SCHEMA_PREFIX "xrun/run-record/"
#define RECORD_MAX_SIZE (256u << 20)

typedef struct Record {
	json_t *root;
	char *path;       /* record.json */
	char *dir;        /* its run directory */
	int next_fd;      /* an unnamed file for the next save, or -1 */
	bool saved;       /* record.json exists: a save replaces it */
	size_t saved_len; /* the size of the last save */
} Record;

bool run_id_valid(const char *id);
Record *record_new(json_t *root, const char *dir);
Record *record_free(Record *r);
static inline void record_freep(Record **r)
{
	record_free(*r);
}
#define _cleanup_record_ __attribute__((cleanup(record_freep)))

/* Load and check a record. Errors: -ENOENT/-EACCES… from the file,
 * -EBADMSG when it is not a JSON object of this schema (corrupt),
 * -EPROTONOSUPPORT when a newer xrun wrote it. *ret_error (may be NULL)
 * gets a one-line description on -EBADMSG and -EPROTONOSUPPORT. */
int record_load(const char *path, Record **ret, char **ret_error);
/* Parse from memory; same checks. */
int record_parse(const char *text, size_t len, json_t **ret, char **ret_error);
/* Write dir/record.json atomically (temp, fsync, rename, and with
 * sync_dir an fsync of the directory), with "record_sha256": the
 * SHA-256 of the record's canonical JSON (compact, keys sorted) without
 * that field, so that a record edited by hand can be told. */
int record_save(Record *r, bool sync_dir);
/* Make the file of the next record_save() now, while nothing waits
 * (the program runs): a save then allocates no inode. */
void record_prepare_save(Record *r);
/* Make that file now and reserve room in it for a record twice the size
 * of the last save and 64 KiB more (fallocate), so that a save after it
 * does not need the file system to have space left (a record can always
 * be finalized). -ENOSPC/-EDQUOT when there is no room; other errors
 * (a file system without O_TMPFILE or fallocate) leave the save
 * unreserved. */
int record_reserve(Record *r);
/* 1 when the record's "record_sha256" matches its content, 0 when it
 * has none (written by xrun 0.x before digests), -EBADMSG when it does
 * not match (edited after xrun wrote it). */
int record_check_digest(const Record *r);

/* Accessors that tolerate anything: a missing or mistyped field reads as
 * NULL / 0. */
const char *record_id(const Record *r);
const char *record_stored_status(const Record *r);
/* The stored status, except that a `running` record whose launcher is
 * gone reads as `abandoned`. */
const char *record_status(const Record *r);
const char *record_created(const Record *r);
json_t *record_get_path(const Record *r, const char *dotted);

bool status_valid(const char *s);
/* {"pid", "start_time", "boot_id", "hostname"} of this process, so
 * that a later reader can tell whether the launcher is still alive. */
int launcher_info(json_t **ret);
/* The same identity in a file name, for what a launcher leaves in the
 * store while it works (temp objects, the marker of its run directory):
 * "PID-STARTTIME-BOOT-HOST", BOOT the first 8 hex digits of the boot id
 * and HOST those of the SHA-256 of the host name. */
int launcher_token(char **ret);
/* The length of the token that s starts with (0: none), and its parts. */
size_t launcher_token_parse(const char *s, long *ret_pid,
                            unsigned long long *ret_start, char ret_boot[9],
                            char ret_host[9]);
/* 1 while the launcher of token lives, 0 when it is gone (another boot,
 * no such process, a process of another start time), -EREMOTE when it
 * ran on another host (cannot be told from here), -EINVAL when token
 * is not one. */
int launcher_token_alive(const char *token);
