/* A small TAP producer for the C unit tests (automake's tap-driver.sh). */
#pragma once

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                          \
	do {                                                                   \
		int _c = !!(cond);                                             \
		tap_n++;                                                       \
		if (!_c)                                                       \
			tap_failed++;                                          \
		printf("%sok %d - ", _c ? "" : "not ", tap_n);                 \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		if (!_c)                                                       \
			printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__,  \
			       #cond);                                         \
	} while (0)

#define is_str(a, b, ...)                                                      \
	do {                                                                   \
		const char *_a = (a), *_b = (b);                               \
		int _c = (_a && _b) ? strcmp(_a, _b) == 0 : _a == _b;          \
		ok(_c, __VA_ARGS__);                                           \
		if (!_c)                                                       \
			printf("#   got '%s', expected '%s'\n",                \
			       _a ? _a : "(null)", _b ? _b : "(null)");        \
	} while (0)

#define is_int(a, b, ...)                                                      \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		ok(_a == _b, __VA_ARGS__);                                     \
		if (_a != _b)                                                  \
			printf("#   got %lld, expected %lld\n", _a, _b);       \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
