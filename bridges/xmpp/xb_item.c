#include "autoconfig.h"

#include "xb_item.h"

#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct xb_item *xb_item_new(enum xb_item_kind kind)
{
	struct xb_item *item = xmalloc(sizeof(*item));

	memset(item, 0, sizeof(*item));
	item->kind = kind;
	return item;
}

void xb_item_free(struct xb_item **pitem)
{
	struct xb_item *item = *pitem;

	if (item == NULL)
		return;
	free(item->id);
	free(item->conversation);
	free(item->name);
	free(item->handle);
	free(item->text);
	free(item->sent_at);
	free(item->state);
	free(item->spool_path);
	free(item);
	*pitem = NULL;
}
