/*
 * itemid.h - the item ids a client may share from a drive.
 *
 * An item id is formatted into the grantee's webDavUrl and webUrl and
 * handed to the storage that resolves it, so the registry must not take
 * one that points elsewhere. oCIS names a resource "<driveId>!<opaque>"
 * (storage id and space id, then the node), and a drive's root is the
 * drive id itself; anything else (another drive's id, a path, a query or
 * fragment, an encoded or dotted segment) is refused, not repaired.
 */
#ifndef SP_UTIL_ITEMID_H
#define SP_UTIL_ITEMID_H

/* Longest opaque part after "<driveId>!": oCIS node ids are UUIDs, and a
 * file-system name is at most 255 bytes, so no storage needs more. */
#define SP_ITEMID_OPAQUE_MAX 255

/*
 * Checks that item_id is an item of drive drive_id: drive_id itself (its
 * root) or drive_id "!" opaque, where opaque is 1 to SP_ITEMID_OPAQUE_MAX
 * bytes of UTF-8 text without '/', '?', '#', '%', '\', control characters,
 * and is not "." or "..". Returns 0, or SP_ERR_INVALID with *why (static
 * text naming the rule broken; why may be NULL).
 */
int sp_itemid_check(const char *drive_id, const char *item_id, const char **why);

#endif
