/*
 * roles.c - the unified role table.
 */
#include "store/roles.h"

#include <string.h>

/* oCIS's actions of its roles (reva's conversions.New*Role permission
 * sets, as the unified roles render them). */
#define READS                                                                                     \
    (SP_ACT_PATH_READ | SP_ACT_QUOTA_READ | SP_ACT_CONTENT_READ | SP_ACT_CHILDREN_READ |          \
     SP_ACT_DELETED_READ | SP_ACT_BASIC_READ)
#define EDITS                                                                                     \
    (READS | SP_ACT_CHILDREN_CREATE | SP_ACT_STANDARD_DELETE | SP_ACT_UPLOAD_CREATE |             \
     SP_ACT_PATH_UPDATE | SP_ACT_DELETED_UPDATE)
#define SPACE_EDITS                                                                               \
    (EDITS | SP_ACT_PERMISSIONS_READ | SP_ACT_VERSIONS_READ | SP_ACT_VERSIONS_UPDATE)
#define MANAGES                                                                                   \
    (SPACE_EDITS | SP_ACT_PERMISSIONS_CREATE | SP_ACT_PERMISSIONS_UPDATE |                        \
     SP_ACT_PERMISSIONS_DELETE | SP_ACT_PERMISSIONS_DENY | SP_ACT_DELETED_DELETE)

static const sp_role roles[] = {
    {SP_ROLE_VIEWER, "Can view", "viewer", "View and download.", SP_CAN_READ | SP_CAN_SHARE,
     SP_ROLE_ON_ITEM, 1, READS, SP_ROLE_RES_FILE | SP_ROLE_RES_FOLDER | SP_ROLE_RES_FEDERATED},
    {SP_ROLE_SPACE_VIEWER, "Can view", "viewer", "View and download.", SP_CAN_READ,
     SP_ROLE_ON_DRIVE, 1, READS | SP_ACT_PERMISSIONS_READ, SP_ROLE_RES_ROOT},
    {SP_ROLE_FILE_EDITOR, "Can edit", "editor", "View, download and edit.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_ITEM, 2,
     READS | SP_ACT_UPLOAD_CREATE | SP_ACT_DELETED_UPDATE,
     SP_ROLE_RES_FILE | SP_ROLE_RES_FEDERATED},
    {SP_ROLE_EDITOR_LITE, "Can upload", "uploader", "View, download and upload.",
     SP_CAN_READ | SP_CAN_WRITE, SP_ROLE_ON_ITEM, 2,
     SP_ACT_BASIC_READ | SP_ACT_PATH_READ | SP_ACT_CHILDREN_CREATE | SP_ACT_UPLOAD_CREATE |
         SP_ACT_CONTENT_READ | SP_ACT_CHILDREN_READ | SP_ACT_PATH_UPDATE,
     SP_ROLE_RES_FOLDER},
    {SP_ROLE_EDITOR, "Can edit", "editor", "View, download, upload, edit, add and delete.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_ITEM, 3, EDITS,
     SP_ROLE_RES_FOLDER | SP_ROLE_RES_FEDERATED},
    {SP_ROLE_SPACE_EDITOR, "Can edit", "editor", "View, download, upload, edit, add and delete.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_DRIVE, 3, SPACE_EDITS,
     SP_ROLE_RES_ROOT},
    {SP_ROLE_MANAGER, "Can manage", "manager",
     "View, download, upload, edit, add, delete and manage members.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE | SP_CAN_MANAGE, SP_ROLE_ON_DRIVE, 4, MANAGES,
     SP_ROLE_RES_ROOT},
};
#define ROLE_COUNT (sizeof roles / sizeof roles[0])

const sp_role *sp_roles_all(size_t *count)
{
    *count = ROLE_COUNT;
    return roles;
}

const sp_role *sp_role_find(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < ROLE_COUNT; i++) {
        if (strcmp(roles[i].id, id) == 0)
            return &roles[i];
    }
    return NULL;
}

int sp_role_can(const char *id, unsigned can)
{
    const sp_role *r = sp_role_find(id);
    return r && (r->can & can) == can;
}

int sp_role_within(const char *a, const char *b)
{
    const sp_role *ra = sp_role_find(a), *rb = sp_role_find(b);
    if (!ra || !rb)
        return 0;
    return (ra->can & ~rb->can & (SP_CAN_READ | SP_CAN_WRITE | SP_CAN_MANAGE)) == 0;
}
