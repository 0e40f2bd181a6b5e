/* report-render-run: renders a report document (a JSON file) in a format,
 * for tests/integration/report-formats.sh.
 *   report-render-run FORMAT DOC.json OUT   (OUT "-": standard output) */
#include "autoconfig.h"

#include "report_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	enum report_format format;
	json_error_t jerr;
	char *error;
	size_t len;

	if (argc != 4 || !report_format_parse(argv[1], &format)) {
		fprintf(stderr, "usage: report-render-run text|csv|xlsx|html|json DOC.json OUT\n");
		return 2;
	}
	json_t *doc = json_load_file(argv[2], 0, &jerr);
	if (doc == NULL) {
		fprintf(stderr, "%s:%d: %s\n", argv[2], jerr.line, jerr.text);
		return 1;
	}
	char *out = report_render(doc, format, &len, &error);
	json_decref(doc);
	if (out == NULL) {
		fprintf(stderr, "%s: %s\n", argv[2], error);
		free(error);
		return 1;
	}
	FILE *fp = strcmp(argv[3], "-") == 0 ? stdout : fopen(argv[3], "wb");
	int rc = fp != NULL && fwrite(out, 1, len, fp) == len ? 0 : 1;
	if (fp != NULL && fp != stdout && fclose(fp) != 0)
		rc = 1;
	if (rc != 0)
		fprintf(stderr, "cannot write %s\n", argv[3]);
	free(out);
	return rc;
}
