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

/*
 * The rule of the opaque part alone, for ids that name an item of a drive
 * the route itself fixes (the share jail's items: "<jail>!<opaque>" or the
 * bare opaque id sharedWithMe gives). Returns as sp_itemid_check.
 */
int sp_itemid_check_opaque(const char *opaque, const char **why);

/*
 * sp_itemid_check where no drive is named beside the id (the remoteItem.id
 * a share jail mounts): the part before the first '!' is the drive id, and
 * must itself pass the opaque part's rule, as must the rest; an id without
 * '!' is a drive's root. Whether that drive is one the caller reaches is
 * the store's question. Returns as sp_itemid_check.
 */
int sp_itemid_check_any(const char *item_id, const char **why);

#endif
