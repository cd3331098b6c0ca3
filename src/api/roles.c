/*
 * roles.c - the unified roles in libre-graph's vocabulary: the role
 * definitions, and the actions a role grants.
 */
#include "api/roles.h"

/* The libre-graph name of each SP_ACT_* bit, in bit order, which is the
 * order oCIS lists them in (unifiedrole.CS3ResourcePermissionsToLibregraphActions). */
static const char *const action_names[SP_ACT_COUNT] = {
    "libre.graph/driveItem/permissions/create", "libre.graph/driveItem/children/create",
    "libre.graph/driveItem/standard/delete",    "libre.graph/driveItem/path/read",
    "libre.graph/driveItem/quota/read",         "libre.graph/driveItem/content/read",
    "libre.graph/driveItem/upload/create",      "libre.graph/driveItem/permissions/read",
    "libre.graph/driveItem/children/read",      "libre.graph/driveItem/versions/read",
    "libre.graph/driveItem/deleted/read",       "libre.graph/driveItem/path/update",
    "libre.graph/driveItem/permissions/delete", "libre.graph/driveItem/deleted/delete",
    "libre.graph/driveItem/versions/update",    "libre.graph/driveItem/deleted/update",
    "libre.graph/driveItem/basic/read",         "libre.graph/driveItem/permissions/update",
    "libre.graph/driveItem/permissions/deny",
};

json_t *sp_roles_actions_json(const sp_role *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && r && i < SP_ACT_COUNT; i++) {
        if ((r->actions & (1u << i)) && json_array_append_new(a, json_string(action_names[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* One rolePermissions entry per resource the role applies to, with
 * oCIS's condition texts, in oCIS's order. */
static json_t *role_permissions(const sp_role *r)
{
    static const struct {
        unsigned resources;
        const char *condition;
    } conditions[] = {
        {SP_ROLE_RES_ROOT, "exists @Resource.Root"},
        {SP_ROLE_RES_FILE, "exists @Resource.File"},
        {SP_ROLE_RES_FOLDER, "exists @Resource.Folder"},
        {SP_ROLE_RES_FILE | SP_ROLE_RES_FEDERATED,
         "exists @Resource.File && @Subject.UserType==\"Federated\""},
        {SP_ROLE_RES_FOLDER | SP_ROLE_RES_FEDERATED,
         "exists @Resource.Folder && @Subject.UserType==\"Federated\""},
    };
    json_t *out = json_array();
    for (size_t i = 0; out && i < sizeof conditions / sizeof conditions[0]; i++) {
        if ((r->resources & conditions[i].resources) != conditions[i].resources)
            continue;
        json_t *p = json_pack("{s:o, s:s}", "allowedResourceActions", sp_roles_actions_json(r),
                              "condition", conditions[i].condition);
        if (!p || json_array_append_new(out, p) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
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
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:i, s:o}", "id", r->id,
                                             "displayName", r->display_name, "description",
                                             r->description, "@libre.graph.weight", r->weight,
                                             "rolePermissions", role_permissions(r)));
    }
    return out;
}
