/*
 * permissions.c - what the permission listings of a space root and of an
 * item answer around their permissions: the roles and actions the caller
 * may use there, as oCIS computes them, and $select.
 *
 * oCIS answers the actions of the caller's own permission set on the
 * resource (its stat's permissionSet): for a member, the actions of their
 * role on the drive. OpenCloud Web gates a space's actions (rename,
 * disable, share, upload) on them.
 */
#include "api/internal.h"

#include "api/odata.h"
#include "api/roles.h"

#include "util/err.h"

#include <string.h>

#define ROLES_ANNOTATION   "@libre.graph.permissions.roles.allowedValues"
#define ACTIONS_ANNOTATION "@libre.graph.permissions.actions.allowedValues"

/* The three members of a listing's answer that $select can name. */
#define SELECT_ROLES   1u
#define SELECT_ACTIONS 2u
#define SELECT_VALUE   4u
#define SELECT_ALL     (SELECT_ROLES | SELECT_ACTIONS | SELECT_VALUE)

unsigned sp_api__permissions_select(sp_http_req *req)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{ROLES_ANNOTATION, SELECT_ROLES},
                 {ACTIONS_ANNOTATION, SELECT_ACTIONS},
                 {"value", SELECT_VALUE}};
    const char *s = sp_http_query(req, "$select");
    unsigned picked = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (sp_odata_names(s, names[i].name))
            picked |= names[i].bit;
    /* oCIS ignores a $select it does not know: everything is answered. */
    return picked ? picked : SELECT_ALL;
}

int sp_api__permissions_value_selected(unsigned select)
{
    return (select & SELECT_VALUE) != 0;
}

void sp_api__reply_permissions(sp_http_req *req, unsigned select, json_t *roles,
                               const sp_role *own, json_t *value)
{
    json_t *doc = json_object();
    int rc = doc ? 0 : -1;
    if (rc == 0 && (select & SELECT_ROLES))
        rc = json_object_set(doc, ROLES_ANNOTATION, roles);
    if (rc == 0 && (select & SELECT_ACTIONS))
        rc = json_object_set_new(doc, ACTIONS_ANNOTATION, sp_roles_actions_json(own));
    if (rc == 0 && (select & SELECT_VALUE))
        rc = json_object_set(doc, "value", value);
    json_decref(roles);
    json_decref(value);
    if (rc < 0) {
        json_decref(doc);
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    sp_http_reply_json(req, 200, doc);
}

void sp_api__reply_permission(sp_http_req *req, const char *id, json_t *found)
{
    if (found)
        sp_http_reply_json(req, 200, found);
    else
        sp_http_reply_error(req, 404, "itemNotFound", "permission not found: %s", id);
}

json_t *sp_api__grantee_json(const char *user_id, const char *user_name, const char *group_id,
                             const char *group_name)
{
    if (group_id)
        return json_pack("{s:{s:s, s:s}}", "group", "id", group_id, "displayName",
                         group_name ? group_name : "");
    return json_pack("{s:{s:s, s:s}}", "user", "id", user_id, "displayName",
                     user_name ? user_name : "");
}

int sp_api__recipient_type(const json_t *recipient, int *group)
{
    const json_t *t = json_object_get(recipient, "@libre.graph.recipient.type");
    const char *type = json_string_value(t);
    *group = type && strcmp(type, "group") == 0;
    return !t || *group || (type && strcmp(type, "user") == 0) ? 0 : SP_ERR_INVALID;
}
