/*
 * roles.h - the unified roles of libre-graph, with oCIS's ids, and what
 * each allows a member or grantee to do.
 *
 * The one place that names a role: the API renders and checks them, the
 * store orders and guards members by them (a space keeps a Manager), the
 * federation maps them to OCM permissions. Each id is written here once.
 */
#ifndef SP_STORE_ROLES_H
#define SP_STORE_ROLES_H

#include <stddef.h>

/* What a role allows. */
#define SP_CAN_READ   1u
#define SP_CAN_WRITE  2u /* change content */
#define SP_CAN_SHARE  4u /* share items with others */
#define SP_CAN_MANAGE 8u /* members, rename, disable */

/* Where a role applies. */
#define SP_ROLE_ON_DRIVE 1u /* space membership (root/invite) */
#define SP_ROLE_ON_ITEM  2u /* a share of an item */

/* What a role lets its holder do to the resource, as oCIS's unified roles
 * grant it: one bit per libre-graph action (api/roles.c names them, in
 * oCIS's order). Only rendered: what Spaceport itself allows is can. */
#define SP_ACT_PERMISSIONS_CREATE (1u << 0)
#define SP_ACT_CHILDREN_CREATE    (1u << 1)
#define SP_ACT_STANDARD_DELETE    (1u << 2)
#define SP_ACT_PATH_READ          (1u << 3)
#define SP_ACT_QUOTA_READ         (1u << 4)
#define SP_ACT_CONTENT_READ       (1u << 5)
#define SP_ACT_UPLOAD_CREATE      (1u << 6)
#define SP_ACT_PERMISSIONS_READ   (1u << 7)
#define SP_ACT_CHILDREN_READ      (1u << 8)
#define SP_ACT_VERSIONS_READ      (1u << 9)
#define SP_ACT_DELETED_READ       (1u << 10)
#define SP_ACT_PATH_UPDATE        (1u << 11)
#define SP_ACT_PERMISSIONS_DELETE (1u << 12)
#define SP_ACT_DELETED_DELETE     (1u << 13)
#define SP_ACT_VERSIONS_UPDATE    (1u << 14)
#define SP_ACT_DELETED_UPDATE     (1u << 15)
#define SP_ACT_BASIC_READ         (1u << 16)
#define SP_ACT_PERMISSIONS_UPDATE (1u << 17)
#define SP_ACT_PERMISSIONS_DENY   (1u << 18)
#define SP_ACT_COUNT              19

/* The resources a role's actions apply to (oCIS's role conditions). */
#define SP_ROLE_RES_ROOT      1u /* exists @Resource.Root */
#define SP_ROLE_RES_FILE      2u /* exists @Resource.File */
#define SP_ROLE_RES_FOLDER    4u /* exists @Resource.Folder */
#define SP_ROLE_RES_FEDERATED 8u /* also for federated users, on files and folders */

/* oCIS's unified role ids (string literals, so SQL can embed them). */
#define SP_ROLE_MANAGER      "312c0871-5ef7-4b3a-85b6-0e4074c64049"
#define SP_ROLE_SPACE_EDITOR "58c63c02-1d89-4572-916a-870abc5a1b7d"
#define SP_ROLE_SPACE_VIEWER "a8d5fe5e-96e3-418d-825b-534dbdf22b99"
#define SP_ROLE_VIEWER       "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5"
#define SP_ROLE_EDITOR       "fb6c3e19-e378-47e5-b277-9732f9de6e21"
#define SP_ROLE_FILE_EDITOR  "2d00ce52-1fc2-4dbc-8b95-a73b73395f5a"
#define SP_ROLE_EDITOR_LITE  "1c996275-f1c9-4e71-abdf-a42f6495e960"

typedef struct sp_role {
    const char *id;
    const char *display_name;
    const char *legacy_name; /* v1.0 drive permissions: "manager", "editor", "viewer" */
    const char *description;
    unsigned can;     /* SP_CAN_* */
    unsigned applies; /* SP_ROLE_ON_* */
    int weight;       /* ordering in role lists, as oCIS */
    unsigned actions;   /* SP_ACT_*: what oCIS's role grants */
    unsigned resources; /* SP_ROLE_RES_*: where those actions apply */
} sp_role;

/* Every role, in listing order: a borrowed static array of *count. */
const sp_role *sp_roles_all(size_t *count);
/* The role with that id (may be NULL), or NULL. Borrowed, static. */
const sp_role *sp_role_find(const char *id);
/* Non-zero when role id (may be NULL) allows all of the bits in can. */
int sp_role_can(const char *id, unsigned can);
/* Non-zero when the role with id a allows nothing that b does not. */
int sp_role_within(const char *a, const char *b);

#endif
