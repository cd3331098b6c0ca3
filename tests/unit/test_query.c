/*
 * test_query.c - unit tests of the OData options of drive listings
 * (api/query) and the expression grammar under them (api/odata), checked
 * against what oCIS's ListDrives does with each form: godata's parser
 * decides what is a 400, generateCs3Filters what is applied and what is a
 * 501, sortSpaces what an $orderby does.
 *
 * The rows are the forms real clients send (ownCloud Web's unquoted
 * `driveType eq personal`, OpenCloud Web's `root($expand=permissions)`),
 * their variants in case, spacing and parentheses, and the forms oCIS
 * refuses. Each row is one loop iteration, so a failure names its index
 * and input.
 */
#include "api/odata.h"
#include "api/query.h"
#include "util/err.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define DRIVE "1284d238-aa92-42ce-bdc4-0b0000009157$4c510ada-c86b-4815-8820-42cdf82c3d51"
#define GUID  "1284d238-aa92-42ce-bdc4-0b0000009157"
/* OpenCloud Web asks the permission listings for the federated roles so. */
#define FEDERATED_FILTER                                                                           \
    "@libre.graph.permissions.roles.allowedValues/rolePermissions/"                                \
    "any(p:contains(p/condition, '@Subject.UserType==\"Federated\"'))"

/* NULL: not filtered; "": filtered on a value no drive has. */
static const struct filter_case {
    const char *filter;
    int status; /* 0 accepted, else 400 or 501 */
    const char *type, *id;
    const char *message; /* a part of the message, for refusals */
} filter_cases[] = {
    /* the forms of ownCloud Web and OpenCloud Web, and the quoted form */
    {"driveType eq personal", 0, "personal", NULL, NULL},
    {"driveType eq project", 0, "project", NULL, NULL},
    {"driveType eq 'personal'", 0, "personal", NULL, NULL},
    {"driveType eq 'mountpoint'", 0, "mountpoint", NULL, NULL},
    /* operators in any case, spaces, parentheses */
    {"driveType EQ personal", 0, "personal", NULL, NULL},
    {"driveType Eq 'project'", 0, "project", NULL, NULL},
    {"  driveType   eq    project  ", 0, "project", NULL, NULL},
    {"(driveType eq project)", 0, "project", NULL, NULL},
    {"((driveType eq 'virtual'))", 0, "virtual", NULL, NULL},
    {"driveType eq(project)", 0, "project", NULL, NULL},
    /* values: quotes trimmed, '' is a quote, unknown types match nothing */
    {"driveType eq 'it''s'", 0, "it's", NULL, NULL},
    {"driveType eq ''", 0, "", NULL, NULL},
    {"driveType eq 'other'", 0, "other", NULL, NULL},
    {"driveType eq 'a-type-name-longer-than-any'", 0, "", NULL, NULL},
    {"driveType eq Personal", 0, "Personal", NULL, NULL},
    /* ids: quoted, or an unquoted guid; a storage$space id needs quotes */
    {"id eq '" DRIVE "'", 0, NULL, DRIVE, NULL},
    {"id eq " GUID, 0, NULL, GUID, NULL},
    {"id eq " DRIVE, 400, NULL, NULL, "Token '$4c510ada"},
    /* an eq on another field is taken and not applied, as in oCIS */
    {"name eq 'x'", 0, NULL, NULL, NULL},
    {"DriveType eq personal", 0, NULL, NULL, NULL},
    {"'personal' eq driveType", 0, NULL, NULL, NULL},
    {"driveType eq personal eq 'x'", 0, NULL, NULL, NULL},
    {"$it eq 1", 0, NULL, NULL, NULL}, /* a fuzz find: $it read past its end */
    {"$root", 400, NULL, NULL, "boolean"},
    /* Spaceport also applies eq clauses on driveType and id joined by and */
    {"driveType eq 'project' and id eq '" DRIVE "'", 0, "project", DRIVE, NULL},
    {"id eq '" DRIVE "' AND (driveType eq project)", 0, "project", DRIVE, NULL},
    {"driveType eq project and driveType eq project", 0, "project", NULL, NULL},
    {"driveType eq project and driveType eq personal", 0, "", NULL, NULL},
    /* any other operator at the top: 501, as generateCs3Filters answers */
    {"driveType eq project and name eq 'x'", 501, NULL, NULL, "unsupported filter operand: and"},
    {"driveType eq project or driveType eq personal", 501, NULL, NULL,
     "unsupported filter operand: or"},
    {"driveType ne 'project'", 501, NULL, NULL, "unsupported filter operand: ne"},
    {"driveType NE project", 501, NULL, NULL, "unsupported filter operand: ne"},
    {"not (driveType eq 'project')", 501, NULL, NULL, "unsupported filter operand: not"},
    {"contains(name, 'x')", 501, NULL, NULL, "unsupported filter operand: contains"},
    {"startswith(name,'x')", 501, NULL, NULL, "unsupported filter operand: startswith"},
    {"true", 501, NULL, NULL, "unsupported filter operand: true"},
    {FEDERATED_FILTER, 501, NULL, NULL, "unsupported filter operand: /"},
    /* what godata cannot parse: 400 */
    {"driveType", 400, NULL, NULL, "boolean"},
    {"'personal'", 400, NULL, NULL, "boolean"},
    {"driveType eq", 400, NULL, NULL, "invalid token sequence: driveType eq"},
    {"driveType eq ", 400, NULL, NULL, "operands for operator 'eq'"},
    {"eq personal", 400, NULL, NULL, "operands"},
    {"driveType eq personal extra", 400, NULL, NULL, "invalid token sequence"},
    {"driveType eq 'personal", 400, NULL, NULL, "is invalid"},
    {"(driveType eq personal", 400, NULL, NULL, "Mismatched parenthesis"},
    {"driveType eq personal)", 400, NULL, NULL, "Mismatched parenthesis"},
    {"driveType\teq personal", 400, NULL, NULL, "is invalid"},
    {"driveType eq 'personal'; drop", 400, NULL, NULL, "is invalid"},
    {"driveType == 'personal'", 400, NULL, NULL, NULL},
    {"   ", 400, NULL, NULL, "Empty query parameter"},
    {"contains(name)", 400, NULL, NULL, "number of arguments"},
    {"contains name", 400, NULL, NULL, "must be followed by '('"},
    {"driveType eq (a,)", 400, NULL, NULL, NULL},
};

/* One listing's options parsed: the query, the filter values it points
 * into, and why it was refused. */
typedef struct parsed {
    sp_drive_query q;
    sp_drive_filter f;
    sp_odata_error err;
    int rc;
} parsed;

static parsed *parse(const sp_drive_options *o)
{
    static parsed p; /* each Check test runs in its own process */
    memset(&p, 0, sizeof p);
    p.rc = sp_query_parse_drives(o, &p.q, &p.f, &p.err);
    return &p;
}

/* Parses row i's options (input in, for messages): with status 0 they
 * must be accepted and the query is returned; else they must be refused
 * with that status, oCIS's code for it and a message naming message (if
 * not NULL), and NULL is returned. */
static const sp_drive_query *expect(int i, const char *in, const sp_drive_options *o, int status,
                                    const char *message)
{
    parsed *r = parse(o);
    if (status == 0) {
        ck_assert_msg(r->rc == 0, "row %d (%s): refused: %s", i, in, r->err.message);
        return &r->q;
    }
    ck_assert_msg(r->rc == SP_ERR_INVALID && r->err.status == status,
                  "row %d (%s): rc %d status %d, want %d", i, in, r->rc, r->err.status, status);
    ck_assert_str_eq(r->err.code, status == 501 ? "notSupported" : "invalidRequest");
    ck_assert_msg(!message || strstr(r->err.message, message),
                  "row %d (%s): message '%s' lacks '%s'", i, in, r->err.message, message);
    return NULL;
}

START_TEST(filter_table)
{
    const struct filter_case *c = &filter_cases[_i];
    sp_drive_options o = {.filter = c->filter};
    const sp_drive_query *q = expect(_i, c->filter, &o, c->status, c->message);
    if (!q)
        return;
    ck_assert_msg(c->type ? q->type && strcmp(q->type, c->type) == 0 : q->type == NULL,
                  "row %d (%s): type %s", _i, c->filter, q->type ? q->type : "(none)");
    ck_assert_msg(c->id ? q->id && strcmp(q->id, c->id) == 0 : q->id == NULL, "row %d (%s): id %s",
                  _i, c->filter, q->id ? q->id : "(none)");
}
END_TEST

START_TEST(empty_options_are_absent)
{
    /* godata reads query.Get("$filter") == "" as no filter */
    sp_drive_options o = {"", "", "", "", "", ""};
    parsed *r = parse(&o);
    ck_assert_int_eq(r->rc, 0);
    ck_assert_ptr_null(r->q.type);
    ck_assert_ptr_null(r->q.id);
    ck_assert_int_eq(r->q.order, SP_DRIVE_ORDER_NAME_ASC);
    ck_assert_int_eq(r->q.top, SP_DRIVE_TOP_MAX);
}
END_TEST

START_TEST(filter_longer_than_the_limit_is_refused)
{
    char big[SP_ODATA_OPTION_MAX + 40];
    strcpy(big, "driveType eq '");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 2);
    big[sizeof big - 2] = '\'';
    big[sizeof big - 1] = '\0';
    sp_drive_options o = {.filter = big};
    parsed *r = parse(&o);
    ck_assert_int_eq(r->rc, SP_ERR_INVALID);
    ck_assert_int_eq(r->err.status, 400);
}
END_TEST

START_TEST(deep_nesting_is_refused_not_recursed)
{
    char deep[SP_ODATA_OPTION_MAX + 1];
    size_t n = 0;
    while (n < 200)
        deep[n++] = '(';
    memcpy(deep + n, "true", 5);
    sp_drive_options o = {.filter = deep};
    parsed *r = parse(&o);
    ck_assert_int_eq(r->rc, SP_ERR_INVALID);
    ck_assert_int_eq(r->err.status, 400);
    ck_assert_ptr_nonnull(strstr(r->err.message, "nests"));
}
END_TEST

static const struct order_case {
    const char *orderby;
    int status;
    sp_drive_order order;
    const char *message;
} order_cases[] = {
    {"name", 0, SP_DRIVE_ORDER_NAME_ASC, NULL},
    {"name asc", 0, SP_DRIVE_ORDER_NAME_ASC, NULL},
    {"name desc", 0, SP_DRIVE_ORDER_NAME_DESC, NULL},
    {"name DESC", 0, SP_DRIVE_ORDER_NAME_DESC, NULL},
    {"  name   desc  ", 0, SP_DRIVE_ORDER_NAME_DESC, NULL},
    {"lastModifiedDateTime", 0, SP_DRIVE_ORDER_MTIME_ASC, NULL},
    {"lastModifiedDateTime Asc", 0, SP_DRIVE_ORDER_MTIME_ASC, NULL},
    {"lastModifiedDateTime desc", 0, SP_DRIVE_ORDER_MTIME_DESC, NULL},
    /* several keys: oCIS does not sort; Spaceport keeps its default */
    {"lastModifiedDateTime desc,name", 0, SP_DRIVE_ORDER_NAME_ASC, NULL},
    {"name desc, size", 0, SP_DRIVE_ORDER_NAME_ASC, NULL},
    /* one key oCIS does not sort by, keys are case-sensitive */
    {"size", 400, 0, "we do not support <size> as a order parameter"},
    {"Name", 400, 0, "we do not support <Name>"},
    {"(name)", 400, 0, "we do not support <(name)>"},
    {"displayName", 400, 0, "we do not support"},
    /* what godata cannot parse */
    {"name sideways", 400, 0, "Invalid $orderby query option"},
    {"name,", 400, 0, "Extra comma in $orderby."},
    {",name", 400, 0, "Extra comma in $orderby."},
    {"name desc, foo bar", 400, 0, "Invalid $orderby query option"},
    {"name\tdesc", 400, 0, "Invalid $orderby query option"},
    {"name;", 400, 0, "Invalid $orderby query option"},
};

START_TEST(orderby_table)
{
    const struct order_case *c = &order_cases[_i];
    sp_drive_options o = {.orderby = c->orderby};
    const sp_drive_query *q = expect(_i, c->orderby, &o, c->status, c->message);
    ck_assert_msg(!q || q->order == c->order, "row %d (%s): order %d, want %d", _i, c->orderby,
                  q ? (int)q->order : -1, c->order);
}
END_TEST

/* $select and $expand: the values the clients send pass, godata's
 * refusals are 400 (is_select: which checker; ok: whether it passes). */
static const struct shape_case {
    int is_select;
    const char *value;
    int ok;
} shape_cases[] = {
    {1, "@libre.graph.permissions.actions.allowedValues", 1},
    {1, "@libre.graph.permissions.roles.allowedValues", 1},
    {1, "@libre.graph.hasTrashedItems", 1},
    {1, "id,displayName,mail", 1},
    {1, "id, displayName", 1},
    {1, "root/permissions", 1},
    {1, "id,,mail", 0},
    {1, "id,", 0},
    {1, " ", 0},
    {1, "id#x", 0},
    {1, "id;mail", 0},
    {0, "root($expand=permissions)", 1},
    {0, "memberOf", 1},
    {0, "members", 1},
    {0, "appRoleAssignments", 1},
    {0, "thumbnails", 1},
    {0, "memberOf,appRoleAssignments", 1},
    {0, "root($expand=permissions($select=id);$select=id)", 1},
    {0, "root($filter=driveType eq project)", 1},
    {0, "root/permissions", 1},
    {0, "root(", 0},
    {0, "root)", 0},
    {0, "root($foo=1)", 0},
    {0, "root($expand=@x)", 0},
    {0, "root($filter=driveType)", 0},
    {0, "root($select=a,,b)", 0},
    {0, "root(permissions)", 0},
    {0, ",memberOf", 0},
    {0, "memberOf,", 0},
    {0, "a//b", 0},
    {0, "a/", 0},
    {0, "a(b)c", 0},
};

START_TEST(shape_table)
{
    const struct shape_case *c = &shape_cases[_i];
    sp_odata_error err = {0};
    int rc = c->is_select ? sp_odata_check_select(c->value, &err)
                          : sp_odata_check_expand(c->value, &err);
    ck_assert_msg((rc == 0) == c->ok, "row %d ($%s=%s): rc %d (%s)", _i,
                  c->is_select ? "select" : "expand", c->value, rc, err.message);
    if (!c->ok) {
        ck_assert_int_eq(err.status, 400);
        ck_assert_str_eq(err.code, "invalidRequest");
    }
    /* a drive listing takes both and refuses the same forms */
    sp_drive_options o = {0};
    if (c->is_select)
        o.select = c->value;
    else
        o.expand = c->value;
    ck_assert_int_eq(parse(&o)->rc == 0, c->ok);
}
END_TEST

START_TEST(names_at_the_top_level)
{
    ck_assert(sp_odata_names("memberOf", "memberOf"));
    ck_assert(sp_odata_names("id,memberOf($select=id)", "memberOf"));
    ck_assert(sp_odata_names(" id , memberOf ", "memberOf"));
    ck_assert(!sp_odata_names("memberOfX", "memberOf"));
    ck_assert(!sp_odata_names("root($expand=memberOf)", "memberOf"));
    ck_assert(!sp_odata_names("root(memberOf,x)", "memberOf"));
    ck_assert(!sp_odata_names(NULL, "memberOf"));
    ck_assert(!sp_odata_names("", "memberOf"));
}
END_TEST

START_TEST(tree_of_the_federated_roles_filter)
{
    /* the permission listings' filter parses, with godata's precedence:
     * the navigation '/' at the top, any(...) with two arguments under it */
    sp_odata_expr *e;
    sp_odata_error err = {0};
    ck_assert_int_eq(sp_odata_parse(FEDERATED_FILTER, 1, &e, &err), 0);
    const sp_odata_node *r = sp_odata_root(e);
    ck_assert_int_eq(r->kind, SP_ODATA_OPERATOR);
    ck_assert_str_eq(r->name, "/");
    const sp_odata_node *any = sp_odata_kid(e, r, 1);
    ck_assert_int_eq(any->kind, SP_ODATA_FUNCTION);
    ck_assert_str_eq(any->name, "any");
    ck_assert_int_eq(any->nkids, 2);
    sp_odata_free(e);

    /* and binds tighter than or: a or b and c is a or (b and c) */
    ck_assert_int_eq(sp_odata_parse("a eq 1 or b eq 2 and c eq 3", 1, &e, &err), 0);
    r = sp_odata_root(e);
    ck_assert_str_eq(r->name, "or");
    ck_assert_str_eq(sp_odata_kid(e, r, 1)->name, "and");
    sp_odata_free(e);

    /* not binds tighter than eq: not a eq b is (not a) eq b */
    ck_assert_int_eq(sp_odata_parse("not a eq b", 1, &e, &err), 0);
    ck_assert_str_eq(sp_odata_root(e)->name, "eq");
    sp_odata_free(e);
}
END_TEST

START_TEST(top_and_skiptoken_still_work)
{
    sp_drive_options o = {.top = "5000"};
    ck_assert_int_eq(parse(&o)->q.top, SP_DRIVE_TOP_MAX);
    const char *bad[] = {"0", "-3", "abc", "5x"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        sp_drive_options b = {.top = bad[i]};
        ck_assert_int_eq(parse(&b)->rc, SP_ERR_INVALID);
        ck_assert_int_eq(parse(&b)->err.status, 400);
    }
    /* a cursor belongs to its order, whatever form the order was asked in */
    sp_drive_cursor c = {.set = 1, .id = "x", .key = "alpha"};
    char enc[SP_QUERY_CURSOR_MAX + 1];
    ck_assert_int_eq(sp_query_cursor_encode(SP_DRIVE_ORDER_NAME_DESC, &c, enc, sizeof enc), 0);
    sp_drive_options ok = {.orderby = "name DESC", .skiptoken = enc};
    ck_assert_int_eq(parse(&ok)->rc, 0);
    ck_assert_str_eq(parse(&ok)->q.after.key, "alpha");
    sp_drive_options other = {.orderby = "name", .skiptoken = enc};
    ck_assert_int_eq(parse(&other)->rc, SP_ERR_INVALID);
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("filter");
    tcase_add_loop_test(tc, filter_table, 0, (int)COUNT(filter_cases));
    tcase_add_test(tc, empty_options_are_absent);
    tcase_add_test(tc, filter_longer_than_the_limit_is_refused);
    tcase_add_test(tc, deep_nesting_is_refused_not_recursed);
    tcase_add_test(tc, tree_of_the_federated_roles_filter);
    suite_add_tcase(s, tc);

    tc = tcase_create("orderby");
    tcase_add_loop_test(tc, orderby_table, 0, (int)COUNT(order_cases));
    tcase_add_test(tc, top_and_skiptoken_still_work);
    suite_add_tcase(s, tc);

    tc = tcase_create("shape");
    tcase_add_loop_test(tc, shape_table, 0, (int)COUNT(shape_cases));
    tcase_add_test(tc, names_at_the_top_level);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(query_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
