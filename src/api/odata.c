/*
 * odata.c - the OData expression grammar, as godata reads it.
 *
 * oCIS hands each query option to godata (github.com/CiscoM31/godata),
 * which tokenizes it and parses it into a tree, and its handlers then read
 * only a little of that tree. This file follows the same grammar (the
 * tokens and their order of precedence when several could match, operator
 * precedence, function arities, the $select and $expand syntax), so a form
 * godata refuses is 400 here too; the readers of the tree decide the rest.
 * godata builds the tree with a shunting-yard; a precedence-climbing
 * parser gives the same trees for the expressions it accepts.
 */
#include "api/odata.h"

#include "util/err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Nodes of one parsed expression: an option of SP_ODATA_OPTION_MAX bytes
 * has at most that many tokens, and each token makes at most one node. */
#define EXPR_NODES_MAX SP_ODATA_OPTION_MAX
/* Nesting depth of parentheses and operators; bounds the recursion of the
 * parser on hostile input (clients nest two or three levels). */
#define EXPR_DEPTH_MAX 64

/* ---- errors ---- */

__attribute__((format(printf, 3, 0))) static void vfail(sp_odata_error *err, int status,
                                                        const char *fmt, va_list ap)
{
    err->status = status;
    err->code = status == 501   ? "notSupported"
                : status == 500 ? "generalException"
                                : "invalidRequest";
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int sp_odata_fail(sp_odata_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, status, fmt, ap);
    va_end(ap);
    return SP_ERR_INVALID;
}

/* ---- tokens (godata's NewExpressionTokenizer) ---- */

typedef enum tok_kind {
    TK_END,
    TK_OPEN,
    TK_CLOSE,
    TK_COMMA,   /* ',' and the ':' of lambdas, which godata reads as ',' */
    TK_NAV,     /* '/' */
    TK_ASSIGN,  /* '=' of named function arguments */
    TK_OP,      /* eq ne gt ge lt le and or not has in add sub mul divby div mod */
    TK_FUNC,    /* a function name followed by '(' or white space */
    TK_VALUE,   /* string, number, date, time, guid, boolean, null, $it, $root */
    TK_LITERAL, /* a property name or any other bare word */
    TK_LIST,    /* not a token: the node of a parenthesised list */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    const char *s; /* its text in the option */
    size_t len;
    int op;      /* TK_OP: index into OPS; TK_FUNC: index into FUNCS */
    int boolean; /* TK_VALUE: true or false */
} tok;

/* Operators with godata's precedence; logical ones must be followed by
 * white space or '(', arithmetic ones by white space. */
static const struct {
    const char *name;
    int prec;
    int arith;
} OPS[] = {
    {"eq", 3, 0},  {"ne", 3, 0},  {"gt", 4, 0},    {"ge", 4, 0},  {"lt", 4, 0},  {"le", 4, 0},
    {"and", 2, 0}, {"or", 1, 0},  {"not", 7, 0},   {"has", 8, 0}, {"in", 8, 0},  {"add", 5, 1},
    {"sub", 5, 1}, {"mul", 6, 1}, {"divby", 6, 1}, {"div", 6, 1}, {"mod", 6, 1},
};
#define OP_EQ       0
#define OP_NOT      8
#define NAV_PREC    8
#define ASSIGN_PREC 0

/* Functions and the argument counts each takes (bit n: n arguments). */
static const struct {
    const char *name;
    unsigned arity;
} FUNCS[] = {
    {"contains", 1u << 2},
    {"endswith", 1u << 2},
    {"startswith", 1u << 2},
    {"exists", 1u << 2},
    {"length", 1u << 1},
    {"indexof", 1u << 2},
    {"substringof", 1u << 2},
    {"substring", 3u << 2},
    {"tolower", 1u << 1},
    {"toupper", 1u << 1},
    {"trim", 1u << 1},
    {"concat", 1u << 2},
    {"year", 1u << 1},
    {"month", 1u << 1},
    {"day", 1u << 1},
    {"hour", 1u << 1},
    {"minute", 1u << 1},
    {"second", 1u << 1},
    {"fractionalseconds", 2u},
    {"date", 1u << 1},
    {"time", 1u << 1},
    {"totaloffsetminutes", 2u},
    {"now", 1u},
    {"maxdatetime", 1u},
    {"mindatetime", 1u},
    {"totalseconds", 1u << 1},
    {"round", 1u << 1},
    {"floor", 1u << 1},
    {"ceiling", 1u << 1},
    {"isof", 3u << 1},
    {"cast", 1u << 2},
    {"geo.distance", 1u << 2},
    {"geo.intersects", 1u << 2},
    {"geo.length", 1u << 1},
    {"any", 1u | 1u << 2},
    {"all", 1u << 2},
    {"case", ~0u},
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static size_t digits(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && isdigit((unsigned char)s[n]))
        n++;
    return n;
}

/* Length of a guid 8-4-4-4-12 at s, or 0. */
static size_t guid_len(const char *s)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    size_t n = 0;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, n++)
            if (!isxdigit((unsigned char)s[n]))
                return 0;
        if (g < 4 && s[n++] != '-')
            return 0;
    }
    return n;
}

/* Length of [:ss[.fff]] after hh:mm at s, or 0 when s is not hh:mm. */
static size_t time_len(const char *s)
{
    if (digits(s, 2) != 2 || s[2] != ':' || digits(s + 3, 2) != 2)
        return 0;
    size_t n = 5;
    if (s[n] == ':' && digits(s + n + 1, 2) == 2) {
        n += 3;
        if (s[n] && digits(s + n + 1, SIZE_MAX) > 0)
            n += 1 + digits(s + n + 1, SIZE_MAX);
    }
    return n;
}

/* Length of a date or date-time at s, or 0. */
static size_t date_len(const char *s)
{
    size_t neg = s[0] == '-';
    const char *d = s + neg;
    if (digits(d, 4) != 4 || d[4] != '-' || digits(d + 5, 2) != 2 || d[7] != '-' ||
        digits(d + 8, 2) != 2)
        return 0;
    size_t n = 10;
    if (!neg && d[10] == 'T') {
        size_t t = time_len(d + 11);
        const char *z = d + 11 + t;
        if (t && *z == 'Z')
            return 11 + t + 1;
        if (t && (*z == '+' || *z == '-') && digits(z + 1, 2) == 2 && z[3] == ':' &&
            digits(z + 4, 2) == 2)
            return 11 + t + 6;
    }
    return neg + n;
}

/* Length of the string literal at s ('' inside is a quote), or 0. Like
 * godata's greedy '(''|[^'])*', it takes the longest literal that ends
 * in a quote. */
static size_t string_len(const char *s)
{
    size_t last = 0;
    for (size_t i = 1; s[i]; i++) {
        if (s[i] != '\'')
            continue;
        if (s[i + 1] != '\'')
            return i + 1;
        last = i + 1; /* closing here is possible if the pair leads nowhere */
        i++;
    }
    return last;
}

/* The length of the run of letters (and dots when dots) at s. */
static size_t word_len(const char *s, int dots)
{
    size_t n = 0;
    while (isalpha((unsigned char)s[n]) || (dots && s[n] == '.'))
        n++;
    return n;
}

/* Reads the token at *pp (skipping spaces) into t and advances *pp past
 * it. Returns 0, or -1 when no token starts there. */
static int lex(const char **pp, tok *t)
{
    const char *s = *pp;
    while (*s == ' ') /* godata ignores spaces only, not tabs */
        s++;
    memset(t, 0, sizeof *t);
    t->s = s;
    size_t n = 0;
    char c = *s;
    if (!c) {
        t->kind = TK_END;
    } else if ((n = guid_len(s)) > 0 || (n = date_len(s)) > 0 || (n = time_len(s)) > 0) {
        t->kind = TK_VALUE;
    } else if (strchr("()/=:,", c)) {
        n = 1;
        t->kind = c == '('   ? TK_OPEN
                  : c == ')' ? TK_CLOSE
                  : c == '/' ? TK_NAV
                  : c == '=' ? TK_ASSIGN
                             : TK_COMMA;
    } else {
        size_t w = word_len(s, 1), lw = word_len(s, 0);
        int follows = s[w] == '(' || is_space(s[w]), lfollows = s[lw] == '(' || is_space(s[lw]);
        for (size_t i = 0; follows && i < sizeof FUNCS / sizeof FUNCS[0] && !n; i++)
            if (strlen(FUNCS[i].name) == w && strncasecmp(FUNCS[i].name, s, w) == 0)
                t->kind = TK_FUNC, t->op = (int)i, n = w;
        for (size_t i = 0; i < sizeof OPS / sizeof OPS[0] && !n; i++)
            if (strlen(OPS[i].name) == lw && strncasecmp(OPS[i].name, s, lw) == 0 &&
                (OPS[i].arith ? is_space(s[lw]) : lfollows))
                t->kind = TK_OP, t->op = (int)i, n = lw;
        if (n) {
            /* matched an operator or function */
        } else if (strncmp(s, "null", 4) == 0) {
            t->kind = TK_VALUE, n = 4;
        } else if (strncmp(s, "$it", 3) == 0 || strncmp(s, "$root", 5) == 0) {
            t->kind = TK_VALUE, n = s[1] == 'i' ? 3 : 5;
        } else if ((n = digits(s + (c == '-'), SIZE_MAX)) > 0) {
            n += c == '-';
            if (s[n] == '.' && digits(s + n + 1, SIZE_MAX) > 0)
                n += 1 + digits(s + n + 1, SIZE_MAX);
            t->kind = TK_VALUE;
        } else if (c == '\'' && (n = string_len(s)) > 0) {
            t->kind = TK_VALUE;
        } else if (strncmp(s, "true", 4) == 0 || strncmp(s, "false", 5) == 0) {
            t->kind = TK_VALUE, t->boolean = 1, n = c == 't' ? 4 : 5;
        } else {
            const char *p = s;
            while (*p == '@')
                p++;
            if (!isalpha((unsigned char)*p))
                return -1;
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
                p++;
            t->kind = TK_LITERAL, n = (size_t)(p - s);
        }
    }
    t->len = n;
    *pp = s + n;
    return 0;
}

/* Checks that s[0..len) is made of tokens (godata's Tokenize). */
static int tokenize_only(const char *s, size_t len, const char *what, sp_odata_error *err)
{
    char buf[SP_ODATA_OPTION_MAX + 1];
    if (len >= sizeof buf)
        return sp_odata_fail(err, 400, "%s is longer than %d bytes", what, SP_ODATA_OPTION_MAX);
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    tok t;
    int count = 0;
    for (;;) {
        if (lex(&p, &t) < 0)
            return sp_odata_fail(err, 400, "Invalid %s value. Cause: Token '%.60s' is invalid",
                                 what, t.s);
        if (t.kind == TK_END)
            break;
        count++;
    }
    return count ? 0
                 : sp_odata_fail(err, 400, "Invalid %s value. Cause: Empty query parameter", what);
}

/* ---- the expression tree (godata's InfixToPostfix and PostfixToTree) ---- */

typedef sp_odata_node node;

/* The parser's state and the tree it builds (sp_odata_expr). */
typedef struct sp_odata_expr {
    const char *pos; /* after cur */
    tok cur, prev;
    node nodes[EXPR_NODES_MAX];
    int n, depth;
    int root;
    sp_odata_error *err;
} parser;

/* A parse error: 400, as godata's; returns -1 for the parser's callers. */
__attribute__((format(printf, 2, 3))) static int perr(parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(p->err, 400, fmt, ap);
    va_end(ap);
    return -1;
}

static int advance(parser *p)
{
    p->prev = p->cur;
    if (lex(&p->pos, &p->cur) < 0)
        return perr(p, "Token '%.60s' is invalid", p->cur.s);
    return 0;
}

static int add_node(parser *p, const tok *t, int a, int b, int nkids)
{
    if (p->n >= EXPR_NODES_MAX)
        return perr(p, "the expression is too long");
    node *nd = &p->nodes[p->n];
    static const sp_odata_kind kinds[] = {
        [TK_OP] = SP_ODATA_OPERATOR,     [TK_NAV] = SP_ODATA_OPERATOR,
        [TK_ASSIGN] = SP_ODATA_OPERATOR, [TK_FUNC] = SP_ODATA_FUNCTION,
        [TK_VALUE] = SP_ODATA_VALUE,     [TK_LITERAL] = SP_ODATA_NAME,
        [TK_LIST] = SP_ODATA_LIST};
    nd->kind = kinds[t->kind];
    nd->name = t->kind == TK_OP       ? OPS[t->op].name
               : t->kind == TK_FUNC   ? FUNCS[t->op].name
               : t->kind == TK_NAV    ? "/"
               : t->kind == TK_ASSIGN ? "="
               : t->kind == TK_LIST   ? "list"
                                      : NULL;
    nd->text = t->s;
    nd->len = t->len;
    nd->boolean = t->boolean;
    nd->kids[0] = a;
    nd->kids[1] = b;
    nd->nkids = nkids;
    return p->n++;
}

static int parse_expr(parser *p, int minprec);

/* Parses "( [expr {, expr}] )" at cur; the first two items go to kids.
 * Returns the count or -1. */
static int parse_list(parser *p, int kids[2])
{
    kids[0] = kids[1] = -1;
    if (advance(p) < 0)
        return -1;
    if (p->cur.kind == TK_CLOSE)
        return advance(p) < 0 ? -1 : 0;
    int count = 0;
    for (;;) {
        if (p->cur.kind == TK_CLOSE || p->cur.kind == TK_COMMA)
            return perr(p, "invalid token sequence: %.*s %.*s", (int)p->prev.len, p->prev.s,
                        (int)p->cur.len, p->cur.s);
        int e = parse_expr(p, ASSIGN_PREC);
        if (e < 0)
            return -1;
        if (count < 2)
            kids[count] = e;
        count++;
        if (p->cur.kind == TK_CLOSE)
            return advance(p) < 0 ? -1 : count;
        if (p->cur.kind != TK_COMMA)
            return perr(p, "Parse error. Mismatched parenthesis.");
        if (advance(p) < 0)
            return -1;
    }
}

static int parse_primary(parser *p)
{
    tok t = p->cur;
    int kids[2];
    switch (t.kind) {
    case TK_OPEN: {
        int count = parse_list(p, kids);
        if (count < 0)
            return -1;
        if (count == 1) /* a parenthesised expression, not a list */
            return kids[0];
        tok list = {TK_LIST, "list", 4, 0, 0};
        return add_node(p, &list, kids[0], kids[1], count);
    }
    case TK_FUNC: {
        if (advance(p) < 0)
            return -1;
        if (p->cur.kind != TK_OPEN)
            return perr(p, "Function '%.*s' must be followed by '('", (int)t.len, t.s);
        int count = parse_list(p, kids);
        if (count < 0)
            return -1;
        if (count >= 32 || !(FUNCS[t.op].arity & (1u << count)))
            return perr(p, "invalid number of arguments for function '%s'. Got %d argument",
                        FUNCS[t.op].name, count);
        return add_node(p, &t, kids[0], kids[1], count);
    }
    case TK_LITERAL: {
        if (advance(p) < 0)
            return -1;
        if (p->cur.kind != TK_OPEN) /* else a collection segment: Tags(Key='x') */
            return add_node(p, &t, -1, -1, 0);
        int count = parse_list(p, kids);
        return count < 0 ? -1 : add_node(p, &t, kids[0], kids[1], count);
    }
    case TK_VALUE:
        return advance(p) < 0 ? -1 : add_node(p, &t, -1, -1, 0);
    case TK_OP:
        return perr(p, "insufficient number of operands for operator '%s'", OPS[t.op].name);
    case TK_CLOSE:
        return perr(p, "Parse error. Mismatched parenthesis.");
    case TK_END:
        if (p->prev.kind == TK_OP)
            return perr(p, "insufficient number of operands for operator '%s'",
                        OPS[p->prev.op].name);
        return perr(p, "Parse error");
    default:
        return perr(p, "Parse error");
    }
}

/* Precedence climbing over godata's operator table: `not` binds tighter
 * than the comparisons, `and` than `or`; '=' is right-associative. */
static int parse_expr(parser *p, int minprec)
{
    if (++p->depth > EXPR_DEPTH_MAX)
        return perr(p, "the expression nests more than %d levels", EXPR_DEPTH_MAX);
    int left;
    if (p->cur.kind == TK_OP && p->cur.op == OP_NOT) {
        tok t = p->cur;
        if (advance(p) < 0)
            return -1;
        int operand = parse_expr(p, OPS[OP_NOT].prec);
        left = operand < 0 ? -1 : add_node(p, &t, operand, -1, 1);
    } else {
        left = parse_primary(p);
    }
    while (left >= 0) {
        tok t = p->cur;
        int prec;
        if (t.kind == TK_OP && t.op != OP_NOT)
            prec = OPS[t.op].prec;
        else if (t.kind == TK_NAV)
            prec = NAV_PREC;
        else if (t.kind == TK_ASSIGN)
            prec = ASSIGN_PREC;
        else
            break;
        if (prec < minprec)
            break;
        if (advance(p) < 0)
            return -1;
        int right = parse_expr(p, t.kind == TK_ASSIGN ? prec : prec + 1);
        left = right < 0 ? -1 : add_node(p, &t, left, right, 2);
    }
    p->depth--;
    return left;
}

/* Parses the whole of s into p's nodes; sets p->root and returns 0 or -1. */
static int parse_tree(parser *p, const char *s, sp_odata_error *err)
{
    p->pos = s;
    p->n = p->depth = 0;
    p->err = err;
    memset(&p->cur, 0, sizeof p->cur);
    if (advance(p) < 0)
        return -1;
    if (p->cur.kind == TK_END)
        return perr(p, "Empty query parameter");
    p->root = parse_expr(p, ASSIGN_PREC);
    if (p->root < 0)
        return -1;
    if (p->cur.kind == TK_CLOSE)
        return perr(p, "Parse error. Mismatched parenthesis.");
    if (p->cur.kind != TK_END)
        return perr(p, "invalid token sequence: %.*s %.*s", (int)p->prev.len, p->prev.s,
                    (int)p->cur.len, p->cur.s);
    return 0;
}

int sp_odata_parse(const char *s, int filter, sp_odata_expr **out, sp_odata_error *err)
{
    *out = NULL;
    if (strlen(s) > SP_ODATA_OPTION_MAX)
        return sp_odata_fail(err, 400, "the expression is longer than %d bytes",
                             SP_ODATA_OPTION_MAX);
    parser *p = malloc(sizeof *p); /* tens of KiB: not on a server thread's stack */
    if (!p)
        return sp_odata_fail(err, 500, "out of memory");
    if (parse_tree(p, s, err) < 0) {
        free(p);
        return SP_ERR_INVALID;
    }
    const node *root = &p->nodes[p->root];
    /* godata's ParseFilterString: a leaf must be true or false */
    if (filter && root->nkids == 0 && !(root->kind == SP_ODATA_VALUE && root->boolean)) {
        free(p);
        return sp_odata_fail(err, 400, "Value must be a boolean expression");
    }
    *out = p;
    return 0;
}

void sp_odata_free(sp_odata_expr *e)
{
    free(e);
}

const sp_odata_node *sp_odata_root(const sp_odata_expr *e)
{
    return &e->nodes[e->root];
}

const sp_odata_node *sp_odata_kid(const sp_odata_expr *e, const sp_odata_node *n, int i)
{
    return i >= 0 && i < 2 && n->kids[i] >= 0 ? &e->nodes[n->kids[i]] : NULL;
}

size_t sp_odata_value(const sp_odata_node *nd, char *out)
{
    const char *s = nd->name ? nd->name : nd->text;
    size_t len = nd->name ? strlen(nd->name) : nd->len, n = 0;
    int unescape = nd->kind == SP_ODATA_VALUE && s[0] == '\'' && len > 2;
    for (size_t i = 0; i < len && i < SP_ODATA_OPTION_MAX; i++) {
        out[n++] = s[i];
        if (unescape && s[i] == '\'' && i + 1 < len && s[i + 1] == '\'')
            i++; /* '' inside a string is one quote */
    }
    size_t b = 0;
    while (b < n && out[b] == '\'')
        b++;
    while (n > b && out[n - 1] == '\'')
        n--;
    memmove(out, out + b, n - b);
    out[n - b] = '\0';
    return n - b;
}

/* ---- $orderby, $select and $expand ---- */

/* Trims white space around [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

int sp_odata_parse_orderby(const char *s, char *first, int *desc, int *count, sp_odata_error *err)
{
    *count = *desc = 0;
    first[0] = '\0';
    if (strlen(s) > SP_ODATA_OPTION_MAX)
        return sp_odata_fail(err, 400, "$orderby is longer than %d bytes", SP_ODATA_OPTION_MAX);
    for (const char *item = s;; item++) {
        const char *b = item, *e = item + strcspn(item, ",");
        int last = *e == '\0', d = 0;
        trim(&b, &e);
        if (b == e)
            return sp_odata_fail(err, 400, "Extra comma in $orderby.");
        /* godata: asc or desc, in any case, after a space ends an item */
        if (e - b > 4 && strncasecmp(e - 4, " asc", 4) == 0)
            e -= 3;
        else if (e - b > 5 && strncasecmp(e - 5, " desc", 5) == 0)
            e -= 4, d = 1;
        trim(&b, &e);
        char expr[SP_ODATA_OPTION_MAX + 1];
        memcpy(expr, b, (size_t)(e - b));
        expr[e - b] = '\0';
        sp_odata_expr *x;
        if (sp_odata_parse(expr, 0, &x, err) < 0) {
            char cause[sizeof err->message];
            memcpy(cause, err->message, sizeof cause);
            return sp_odata_fail(err, 400, "Invalid $orderby query option. Cause: %.150s", cause);
        }
        sp_odata_free(x);
        if ((*count)++ == 0) {
            memcpy(first, expr, (size_t)(e - b) + 1);
            *desc = d;
        }
        item += strcspn(item, ",");
        if (last)
            return 0;
    }
}

int sp_odata_check_select(const char *select, sp_odata_error *err)
{
    if (!select || !*select)
        return 0;
    if (strlen(select) > SP_ODATA_OPTION_MAX)
        return sp_odata_fail(err, 400, "$select is longer than %d bytes", SP_ODATA_OPTION_MAX);
    for (const char *item = select;; item++) {
        const char *b = item, *e = item + strcspn(item, ",");
        int last = *e == '\0';
        trim(&b, &e);
        if (b == e)
            return sp_odata_fail(err, 400, "Extra comma in $select.");
        if (tokenize_only(b, (size_t)(e - b), "$select", err) < 0)
            return SP_ERR_INVALID;
        item += strcspn(item, ",");
        if (last)
            return 0;
    }
}

/* The end of the item at s: the first sep outside parentheses, or end;
 * NULL when the parentheses do not balance. */
static const char *item_end(const char *s, const char *end, char sep)
{
    int depth = 0;
    for (; s < end; s++) {
        if (*s == '(')
            depth++;
        else if (*s == ')' && --depth < 0)
            return NULL;
        else if (depth == 0 && *s == sep)
            return s;
    }
    return depth ? NULL : end;
}

static int check_expand_range(const char *s, const char *end, int depth, sp_odata_error *err);

/* Checks one "$option=value" inside the parentheses of an expand item. */
static int check_expand_option(const char *b, const char *e, int depth, sp_odata_error *err)
{
    static const char *const known[] = {"$filter",  "$expand",      "$select", "$orderby", "$top",
                                        "$skip",    "$count",       "$search", "$levels",  "$apply",
                                        "$compute", "$inlinecount", "$format", "at",       "tags"};
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq || eq == b)
        return sp_odata_fail(err, 400, "Invalid expand clause.");
    size_t klen = (size_t)(eq - b);
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strlen(known[i]) == klen && strncmp(known[i], b, klen) == 0;
    if (!ok)
        return sp_odata_fail(err, 400, "Unsupported item '%.*s' in expand clause.", (int)klen, b);
    char value[SP_ODATA_OPTION_MAX + 1];
    memcpy(value, eq + 1, (size_t)(e - eq - 1));
    value[e - eq - 1] = '\0';
    if (klen == 7 && strncmp(b, "$expand", 7) == 0)
        return check_expand_range(value, value + strlen(value), depth + 1, err);
    if (klen == 7 && strncmp(b, "$select", 7) == 0)
        return sp_odata_check_select(value, err);
    if (klen == 7 && strncmp(b, "$filter", 7) == 0) {
        sp_odata_expr *x;
        int rc = sp_odata_parse(value, 1, &x, err);
        sp_odata_free(x);
        return rc;
    }
    return 0;
}

/* godata's ParseExpandString: items split at commas, each a path with an
 * optional "(options)" whose options are split at ';'. */
static int check_expand_range(const char *s, const char *end, int depth, sp_odata_error *err)
{
    if (depth > EXPR_DEPTH_MAX)
        return sp_odata_fail(err, 400, "$expand nests more than %d levels", EXPR_DEPTH_MAX);
    for (const char *c = s; c < end; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_'.:$ *()/,;=", *c))
            return sp_odata_fail(err, 400, "Token '%.*s' is invalid",
                                 (int)(end - c > 60 ? 60 : end - c), c);
    for (const char *item = s;;) {
        const char *stop = item_end(item, end, ',');
        if (!stop)
            return sp_odata_fail(err, 400, "Mismatched parentheses in expand clause.");
        const char *open = memchr(item, '(', (size_t)(stop - item));
        const char *path_end = open ? open : stop;
        if (path_end == item)
            return sp_odata_fail(err, 400,
                                 open ? "Invalid expand clause." : "Extra comma in $expand.");
        for (const char *c = item; c < path_end; c++)
            if (*c == '/' && (c == item || c[-1] == '/' || c + 1 == path_end))
                return sp_odata_fail(err, 400, "Empty path segment in expand clause.");
        if (open) {
            if (stop[-1] != ')')
                return sp_odata_fail(err, 400, "Invalid expand clause.");
            for (const char *opt = open + 1; opt < stop - 1;) {
                const char *oe = item_end(opt, stop - 1, ';');
                if (!oe || check_expand_option(opt, oe, depth, err) < 0)
                    return oe ? SP_ERR_INVALID
                              : sp_odata_fail(err, 400, "Mismatched parentheses in expand clause.");
                opt = oe + 1;
            }
        }
        if (stop == end)
            return 0;
        item = stop + 1;
    }
}

int sp_odata_check_expand(const char *expand, sp_odata_error *err)
{
    if (!expand || !*expand)
        return 0;
    if (strlen(expand) > SP_ODATA_OPTION_MAX)
        return sp_odata_fail(err, 400, "$expand is longer than %d bytes", SP_ODATA_OPTION_MAX);
    return check_expand_range(expand, expand + strlen(expand), 0, err);
}

int sp_odata_check_expand_plain(const char *expand, sp_odata_error *err)
{
    if (sp_odata_check_expand(expand, err) < 0)
        return SP_ERR_INVALID;
    if (!expand)
        return 0;
    const char *end = expand + strlen(expand);
    for (const char *item = expand; item < end;) {
        const char *stop = item_end(item, end, ',');
        if (memchr(item, '(', (size_t)(stop - item)))
            return sp_odata_fail(err, 400, "options for $expand not supported");
        if (memchr(item, '/', (size_t)(stop - item)))
            return sp_odata_fail(err, 400, "multiple segments in $expand not supported");
        item = stop + 1;
    }
    return 0;
}

int sp_odata_names(const char *list, const char *name)
{
    if (!list)
        return 0;
    size_t nlen = strlen(name);
    const char *end = list + strlen(list);
    for (const char *item = list; item <= end;) {
        const char *stop = item_end(item, end, ',');
        if (!stop)
            return 0;
        const char *b = item, *e = item + strcspn(item, "(,");
        if (e > stop)
            e = stop;
        trim(&b, &e);
        if ((size_t)(e - b) == nlen && strncmp(b, name, nlen) == 0)
            return 1;
        item = stop + 1;
    }
    return 0;
}
