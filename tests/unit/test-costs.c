/* test-costs: costs_split(), the largest remainder split of whole cents. */
#include "autoconfig.h"

#include "costs.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 8

static const struct {
	const char *what;
	long long total;
	size_t n;
	double weights[MAXN];
	long long want[MAXN];
} cases[] = {
    /* 100 / 3 = 33.33 each: rounding each gives 99; the cent left goes to the first */
    {"thirds: naive rounding loses a cent", 100, 3, {1, 1, 1}, {34, 33, 33}},
    /* 200 / 3 = 66.67 each: rounding each gives 201 */
    {"thirds of 200: naive rounding adds a cent", 200, 3, {1, 1, 1}, {67, 67, 66}},
    {"halves of an odd total: the tie goes to the lower index", 101, 2, {1, 1}, {51, 50}},
    {"a tie among the last two: the lower index wins", 10, 3, {2, 1, 1}, {5, 3, 2}},
    /* 1000 * 0.1255, 0.3745, 0.5 = 125.5, 374.5, 500: both .5 remainders tie */
    {"equal remainders of .5", 1000, 3, {251, 749, 1000}, {126, 374, 500}},
    /* exact 33.4, 33.3, 33.3: rounding gives 33 + 33 + 33 */
    {"the largest remainder wins the cent", 100, 3, {334, 333, 333}, {34, 33, 33}},
    {"remainders .6 and .4: by size, not by order", 10, 2, {46, 54}, {5, 5}},
    {"remainders .7, .2, .1", 10, 3, {27, 32, 41}, {3, 3, 4}},
    {"a zero weight gets nothing", 1000, 3, {1, 0, 3}, {250, 0, 750}},
    {"zero weights among ties", 5, 4, {0, 1, 0, 1}, {0, 3, 0, 2}},
    {"a single member takes all", 123457, 1, {0.3}, {123457}},
    {"a single member with others at 0", 99, 3, {0, 7, 0}, {0, 99, 0}},
    {"a zero total", 0, 3, {1, 2, 3}, {0, 0, 0}},
    {"a cent over many", 1, 5, {1, 1, 1, 1, 1}, {1, 0, 0, 0, 0}},
    {"a large total: 10^13 euros in thirds",
     1000000000000000LL,
     3,
     {1, 1, 1},
     {333333333333334LL, 333333333333333LL, 333333333333333LL}},
    {"a large total by population",
     987654321098LL,
     4,
     {5123, 1540, 21000, 2862},
     {165757676887LL, 49827605389LL, 679467346210LL, 92601692612LL}},
    {"weights 50/25/25 of 1 euro 1 cent", 101, 3, {50, 25, 25}, {51, 25, 25}},
};

static void test_cases(void)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		long long got[MAXN], sum = 0;
		char gbuf[256] = "", wbuf[256] = "";
		bool same = true;

		costs_split(cases[c].total, cases[c].weights, cases[c].n, got);
		for (size_t i = 0; i < cases[c].n; i++) {
			same &= got[i] == cases[c].want[i];
			sum += got[i];
			snprintf(gbuf + strlen(gbuf), sizeof(gbuf) - strlen(gbuf), " %lld", got[i]);
			snprintf(wbuf + strlen(wbuf), sizeof(wbuf) - strlen(wbuf), " %lld",
			         cases[c].want[i]);
		}
		tap_ok(same && sum == cases[c].total, "%s", cases[c].what);
		if (!same)
			printf("#   got: %s\n#   want:%s\n", gbuf, wbuf);
	}
}

/* Random totals and integer weights: the parts sum to the total, and each is
 * the floor or the ceiling of its exact share (within a cent), the ceilings
 * going to the largest exact remainders.  Integer weights make the exact
 * share total * w / W a fraction that long double arithmetic checks exactly
 * for these sizes. */
static void test_property(void)
{
	unsigned seed = 20260301;
	int bad_sum = 0, bad_cent = 0, bad_rank = 0;
	const int rounds = 20000;

	srand(seed);
	for (int r = 0; r < rounds; r++) {
		size_t n = 1 + (size_t)(rand() % 12);
		double w[16];
		long long parts[16], sum = 0, wsum = 0, wi[16];
		long long total = r % 3 == 0 ? rand() % 1000 : (long long)rand() * (rand() % 1000);

		for (size_t i = 0; i < n; i++) {
			wi[i] = rand() % 4 == 0 ? 0 : rand() % 100000;
			wsum += wi[i];
		}
		if (wsum == 0) {
			wi[0] = 1;
			wsum = 1;
		}
		for (size_t i = 0; i < n; i++)
			w[i] = (double)wi[i];
		costs_split(total, w, n, parts);
		for (size_t i = 0; i < n; i++) {
			/* exact: floor = total * wi / wsum, remainder = total * wi % wsum */
			__extension__ __int128 q = (__int128)total * wi[i];
			long long fl = (long long)(q / wsum);
			sum += parts[i];
			if (parts[i] != fl && parts[i] != fl + 1)
				bad_cent++;
		}
		if (sum != total)
			bad_sum++;
		/* every part rounded up has a remainder >= every part rounded down */
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n; j++) {
				__extension__ __int128 qi = (__int128)total * wi[i],
				                       qj = (__int128)total * wi[j];
				bool up_i = parts[i] > (long long)(qi / wsum),
				     up_j = parts[j] > (long long)(qj / wsum);
				if (up_i && !up_j && qi % wsum < qj % wsum)
					bad_rank++;
			}
	}
	tap_ok(bad_sum == 0, "%d random splits: the parts sum to the total (%d off)", rounds,
	       bad_sum);
	tap_ok(bad_cent == 0,
	       "%d random splits: each part within a cent of its exact share (%d off)", rounds,
	       bad_cent);
	tap_ok(bad_rank == 0, "%d random splits: the cents go to the largest remainders (%d not)",
	       rounds, bad_rank);
}

int main(void)
{
	test_cases();
	test_property();
	return tap_done();
}
