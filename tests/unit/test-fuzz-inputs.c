/* test-fuzz-inputs: runs the fuzz target's own checks (tests/fuzz/fuzz-intake.c,
 * linked in) over the fuzzer's seed corpus and over every input that once
 * crashed it (tests/fuzz/regressions), so that a fixed crash stays fixed in
 * every build, with or without libFuzzer. */
#include "autoconfig.h"

#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_dir(const char *sub)
{
	char dir[4096], path[8192];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s", TOP_SRCDIR, sub);
	if ((d = opendir(dir)) == NULL) {
		tap_ok(0, "%s: cannot open", dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
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
	tap_ok(1, "%s: %zu inputs through normaliser, auto-detection and classifier", sub, n);
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	run_dir("corpus");
	run_dir("regressions");
	return tap_done();
}
