/* A small TAP producer for the C unit tests (automake's tap-driver.sh). */
#pragma once

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                 \
	do {                                                          \
		int _c = !!(cond);                                    \
		tap_n++;                                              \
		if (!_c)                                              \
			tap_failed++;                                 \
		printf("%sok %d - ", _c ? "" : "not ", tap_n);        \
		printf(__VA_ARGS__);                                  \
		printf("\n");                                         \
		if (!_c)                                              \
			printf("#   failed at %s:%d: %s\n", __FILE__, \
			       __LINE__, #cond);                      \
	} while (0)

#define is_str(a, b, ...)                                                    \
	do {                                                                 \
		const char *_sa = (a), *_sb = (b);                           \
		int _sc = (_sa && _sb) ? strcmp(_sa, _sb) == 0 : _sa == _sb; \
		ok(_sc, __VA_ARGS__);                                        \
		if (!_sc)                                                    \
			printf("#   got '%s', expected '%s'\n",              \
			       _sa ? _sa : "(null)", _sb ? _sb : "(null)");  \
	} while (0)

#define is_int(a, b, ...)                                                  \
	do {                                                               \
		long long _ia = (long long)(a), _ib = (long long)(b);      \
		ok(_ia == _ib, __VA_ARGS__);                               \
		if (_ia != _ib)                                            \
			printf("#   got %lld, expected %lld\n", _ia, _ib); \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
