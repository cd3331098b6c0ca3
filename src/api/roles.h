/*
 * roles.h - the unified roles as libre-graph renders them. The roles
 * themselves (ids, what each allows and grants) are store/roles.h.
 */
#ifndef SP_API_ROLES_H
#define SP_API_ROLES_H

#include "store/roles.h"

#include <jansson.h>

/* The roleDefinitions array (new reference), only roles applying to where
 * (SP_ROLE_ON_*), or all when where is 0. */
json_t *sp_roles_json(unsigned where);

/* The libre-graph actions role r grants, as oCIS lists them (new
 * reference; an empty array when r is NULL; NULL when out of memory). */
json_t *sp_roles_actions_json(const sp_role *r);

#endif
