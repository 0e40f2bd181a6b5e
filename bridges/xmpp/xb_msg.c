#include "autoconfig.h"

#include "xb_msg.h"

#include "xalloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lower-case hex SHA-256 of the parts, each followed by a NUL (so that
 * ("ab","c") and ("a","bc") differ); out has room for 65 bytes. */
static void sha256_hex(const char *const *parts, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort(); /* out of memory or a broken libcrypto: nothing to do */
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

char *xb_msg_id(const char *bare, const char *origin_id, const char *stanza_id, const char *text,
                time_t now, unsigned long counter)
{
	const char *given = origin_id != NULL && origin_id[0] != '\0' ? origin_id : stanza_id;
	char hex[65];

	if (given != NULL && given[0] != '\0') {
		char *id = xasprintf("xmpp:%s:%s", bare, given);
		if (strlen(id) <= XB_MSG_MAX_ID)
			return id;
		free(id);
		const char *parts[] = {bare, given};
		sha256_hex(parts, 2, hex);
		return xasprintf("xmpp-s:%s", hex);
	}
	char when[32], count[32];
	snprintf(when, sizeof(when), "%lld", (long long)now);
	snprintf(count, sizeof(count), "%lu", counter);
	const char *parts[] = {bare, text != NULL ? text : "", when, count};
	sha256_hex(parts, 4, hex);
	return xasprintf("xmpp-h:%s", hex);
}

size_t xb_msg_utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	/* back over continuation bytes to the start of the cut character */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

char *xb_msg_sender_name(const char *bare, const char *nick)
{
	const char *name = bare;
	size_t len = strlen(bare);

	if (nick != NULL && nick[0] != '\0') {
		name = nick;
		len = strlen(nick);
	} else {
		const char *at = strchr(bare, '@');
		if (at != NULL && at > bare)
			len = (size_t)(at - bare);
	}
	char *copy = xstrndup(name, len);
	copy[xb_msg_utf8_cut(copy, XB_MSG_MAX_NAME)] = '\0';
	return copy;
}

char *xb_msg_clean_text(const char *body)
{
	size_t n = strlen(body), o = 0;
	char *out = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)body[i];
		if (ch == '\r') {
			out[o++] = '\n';
			if (body[i + 1] == '\n')
				i++;
		} else if (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f)) {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	/* blank lines and spaces around the text say nothing */
	size_t start = 0;
	while (start < o && (out[start] == '\n' || out[start] == ' ' || out[start] == '\t'))
		start++;
	while (o > start && (out[o - 1] == '\n' || out[o - 1] == ' ' || out[o - 1] == '\t'))
		out[--o] = '\0';
	if (start == o) {
		free(out);
		return NULL;
	}
	memmove(out, out + start, o - start + 1);
	return out;
}

char *xb_msg_stamp(const char *stamp)
{
	int y, mo, d, h, mi, s, used = 0;
	struct tm tm = {0};

	if (stamp == NULL ||
	    sscanf(stamp, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6)
		return NULL;
	const char *rest = stamp + used;
	if (*rest == '.') { /* fractions of a second: dropped */
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	long offset = 0;
	if (*rest == '+' || *rest == '-') {
		int oh, om, n2 = 0;
		if (sscanf(rest + 1, "%2d:%2d%n", &oh, &om, &n2) != 2 || rest[1 + n2] != '\0')
			return NULL;
		offset = (oh * 60L + om) * 60L * (*rest == '-' ? -1 : 1);
	} else if (strcmp(rest, "Z") != 0) {
		return NULL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
		return NULL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	time_t t = timegm(&tm) - offset;
	struct tm utc;
	if (gmtime_r(&t, &utc) == NULL)
		return NULL;
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
	return xstrdup(buf);
}
