/* test-fuzz-inputs: runs a fuzz target's own checks (tests/fuzz/fuzz-NAME.c,
 * linked in) over the fuzzer's seed corpus (tests/fuzz/corpus/NAME) and over
 * every input that once crashed it (tests/fuzz/regressions/NAME), so that a
 * fixed crash stays fixed in every build, with or without libFuzzer.  Built
 * once per target with FUZZ_NAME "/NAME"; fuzz-intake's inputs are in
 * corpus/ and regressions/ themselves (FUZZ_NAME ""). */
#include "autoconfig.h"

#include "tap.h"

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#define FUZZ_NAME ""
#endif
#ifndef FUZZ_WHAT
#define FUZZ_WHAT "normaliser, auto-detection and classifier"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_dir(const char *sub, bool seeds)
{
	char dir[4096], path[8192];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s%s", TOP_SRCDIR, sub, FUZZ_NAME);
	if ((d = opendir(dir)) == NULL) {
		/* a target that never crashed has no regressions directory (git keeps none empty) */
		if (seeds)
			tap_ok(0, "%s: cannot open", dir);
		else
			tap_ok(1, "%s%s: none yet", sub, FUZZ_NAME);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue; /* the other targets' directories */
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		static uint8_t buf[1 << 20];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		/* An abort or a sanitizer report ends the program: no plan, an error. */
		LLVMFuzzerTestOneInput(buf, len);
		n++;
	}
	closedir(d);
	tap_ok(n > 0 || !seeds, "%s%s: %zu inputs through " FUZZ_WHAT, sub, FUZZ_NAME, n);
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	run_dir("corpus", true);
	run_dir("regressions", false);
	return tap_done();
}
