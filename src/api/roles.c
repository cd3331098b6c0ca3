/*
 * roles.c - the unified role table.
 */
#include "api/roles.h"

#include <stddef.h>
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

/* The actions a role grants, in libre-graph's vocabulary. */
static json_t *actions(const sp_role *r)
{
    json_t *a = json_array();
    if (r->can & SP_CAN_READ) {
        json_array_append_new(a, json_string("libre.graph/driveItem/content/read"));
        json_array_append_new(a, json_string("libre.graph/driveItem/children/read"));
        json_array_append_new(a, json_string("libre.graph/driveItem/path/read"));
        json_array_append_new(a, json_string("libre.graph/driveItem/quota/read"));
    }
    if (r->can & SP_CAN_WRITE) {
        json_array_append_new(a, json_string("libre.graph/driveItem/upload/create"));
        json_array_append_new(a, json_string("libre.graph/driveItem/children/create"));
        json_array_append_new(a, json_string("libre.graph/driveItem/standard/delete"));
        json_array_append_new(a, json_string("libre.graph/driveItem/path/update"));
    }
    if (r->can & SP_CAN_SHARE)
        json_array_append_new(a, json_string("libre.graph/driveItem/permissions/create"));
    if (r->can & SP_CAN_MANAGE) {
        json_array_append_new(a, json_string("libre.graph/driveItem/permissions/update"));
        json_array_append_new(a, json_string("libre.graph/driveItem/permissions/delete"));
        json_array_append_new(a, json_string("libre.graph/driveItem/permissions/read"));
    }
    return a;
}

json_t *sp_roles_json(unsigned where)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < ROLE_COUNT; i++) {
        const sp_role *r = &roles[i];
        if (where && !(r->applies & where))
            continue;
        const char *condition = r->applies & SP_ROLE_ON_DRIVE ? "exists @Resource.Root"
                                                              : "exists @Resource.Folder";
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:i, s:[{s:o, s:s}]}", "id", r->id, "displayName",
                           r->display_name, "description", r->description, "@libre.graph.weight",
                           r->weight, "rolePermissions", "allowedResourceActions", actions(r),
                           "condition", condition));
    }
    return out;
}
