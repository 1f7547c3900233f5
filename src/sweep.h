/* A sweep's grid (DESIGN.md §7): the values listed for each param, and
 * their cartesian product in a stable order. Combination i is task i of
 * a Slurm job array. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* At most this many combinations in one grid. */
#define GRID_MAX 1000000

typedef struct Grid {
	json_t *axes; /* {key: [value, …]}, in the order the keys came */
} Grid;

Grid *grid_new(void);
Grid *grid_free(Grid *g);
static inline void grid_freep(Grid **g)
{
	grid_free(*g);
}
#define _cleanup_grid_ __attribute__((cleanup(grid_freep)))

/* -p KEY=V1,V2,…: each value a JSON scalar if it parses as one, else a
 * string, as for `run -p`; "\," is a comma inside a value and "\\" a
 * backslash. -EINVAL without '=' or with a bad key, -EEXIST when KEY is
 * already in the grid. */
int grid_add_list(Grid *g, const char *kv);
/* --params-grid FILE: {"key": [v1, v2, …], …} with scalar values.
 * -EBADMSG when it is not such an object (*ret_error says why), -EEXIST
 * when a key is already in the grid (*ret_error names it), else -errno. */
int grid_load_file(Grid *g, const char *path, char **ret_error);
/* The number of combinations: 0 for an empty grid, -E2BIG (as a negative
 * ssize_t) above GRID_MAX. */
long grid_size(const Grid *g);
/* Combination i as {key: value}: the first key varies slowest, the last
 * fastest, as nested loops over the keys in order would give them. */
json_t *grid_combination(const Grid *g, size_t i);
