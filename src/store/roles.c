/*
 * roles.c - the unified role table.
 */
#include "store/roles.h"

#include <string.h>

static const sp_role roles[] = {
    {SP_ROLE_VIEWER, "Can view", "viewer", "View and download.", SP_CAN_READ | SP_CAN_SHARE,
     SP_ROLE_ON_ITEM, 1},
    {SP_ROLE_SPACE_VIEWER, "Can view", "viewer", "View and download.", SP_CAN_READ,
     SP_ROLE_ON_DRIVE, 1},
    {SP_ROLE_FILE_EDITOR, "Can edit", "editor", "View, download and edit.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_ITEM, 2},
    {SP_ROLE_EDITOR_LITE, "Can upload", "uploader", "View, download and upload.",
     SP_CAN_READ | SP_CAN_WRITE, SP_ROLE_ON_ITEM, 2},
    {SP_ROLE_EDITOR, "Can edit", "editor", "View, download, upload, edit, add and delete.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_ITEM, 3},
    {SP_ROLE_SPACE_EDITOR, "Can edit", "editor", "View, download, upload, edit, add and delete.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE, SP_ROLE_ON_DRIVE, 3},
    {SP_ROLE_MANAGER, "Can manage", "manager",
     "View, download, upload, edit, add, delete and manage members.",
     SP_CAN_READ | SP_CAN_WRITE | SP_CAN_SHARE | SP_CAN_MANAGE, SP_ROLE_ON_DRIVE, 4},
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
