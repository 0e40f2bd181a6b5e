#include "autoconfig.h"

#include "apicall.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void api_result_error(struct api_result *res, int status, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(res->json);
	free(res->bytes);
	res->bytes = NULL;
	res->len = 0;
	res->status = status;
	/* json_string() refuses invalid UTF-8 (a value echoed from the input). */
	json_t *m = json_string(msg);
	res->json = json_object();
	if (res->json == NULL)
		return;
	json_object_set_new(res->json, "error", m != NULL ? m : json_string("invalid request"));
	if (field != NULL) {
		json_t *f = json_string(field);
		if (f != NULL)
			json_object_set_new(res->json, "field", f);
	}
}
