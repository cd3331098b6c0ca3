/*
 * roles.c - the unified roles in libre-graph's vocabulary.
 */
#include "api/roles.h"

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
    size_t count;
    const sp_role *all = sp_roles_all(&count);
    json_t *out = json_array();
    for (size_t i = 0; out && i < count; i++) {
        const sp_role *r = &all[i];
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
