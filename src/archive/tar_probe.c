/* tar_probe.c - is a byte stream a tar archive? (ADD's auto-extraction) */
#include "archive/tar.h"

#include <archive.h>
#include <archive_entry.h>

int tar_probe(const void *head, size_t len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r = 0;

	if (!a)
		return 0;
	if (archive_read_support_format_tar(a) == ARCHIVE_OK &&
	    archive_read_open_memory(a, head, len) == ARCHIVE_OK) {
		int h = archive_read_next_header(a, &ae);
		r = h == ARCHIVE_OK || h == ARCHIVE_WARN;
	}
	archive_read_free(a);
	return r;
}
