/* Pieces of capture-software.c that the unit tests reach directly. */
#pragma once

/* The BLAS or LAPACK implementation a Debian alternative points at,
 * from the directory it lives in: ".../openblas-pthread/libblas.so.3"
 * is "openblas-pthread", ".../blas/libblas.so.3" and
 * ".../lapack/liblapack.so.3" are "reference"; a library straight in the
 * multiarch directory is named by its file ("libmkl_rt.so" is "mkl_rt").
 * The caller frees the result. */
char *software_blas_implementation(const char *path);

/* Cache file names under cache_dir, for tests that corrupt them. */
#define SOFTWARE_CACHE_PREFIX "software-v1-"
#define SOFTWARE_LIBS_CACHE "software-libs-v1.json"
#define SOFTWARE_DPKG_INDEX "dpkg-so-index-v1"
#define SOFTWARE_DPKG_PATH_INDEX "dpkg-path-index-v1"
