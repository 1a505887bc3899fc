/* SCIM 2.0 filters (RFC 7644 section 3.4.2.2) and PATCH paths (section
 * 3.5.2): a parser into a tree of nodes held in a caller's arena, and a
 * printer of the canonical form. Pure: no Lua, no I/O, no allocation.
 * Liberal where identity providers bend the RFC: unquoted values
 * (numbers, true/false/null in any case, barewords as strings), any
 * whitespace between tokens, `not` without parentheses, operators and
 * keywords in any case. */
#ifndef CLOSE_SCIM_FILTER_H
#define CLOSE_SCIM_FILTER_H

#include <stddef.h>

#define CLOSE_SCIM_MAX_INPUT 8192 /* bytes of a filter or path */
#define CLOSE_SCIM_MAX_DEPTH 32   /* nesting of and/or/not/()/[] */
#define CLOSE_SCIM_MAX_NODES 1024 /* nodes of one tree */

typedef enum {
    CLOSE_SCIM_AND, CLOSE_SCIM_OR, CLOSE_SCIM_NOT, CLOSE_SCIM_PR,
    CLOSE_SCIM_EQ, CLOSE_SCIM_NE, CLOSE_SCIM_CO, CLOSE_SCIM_SW, CLOSE_SCIM_EW,
    CLOSE_SCIM_GT, CLOSE_SCIM_GE, CLOSE_SCIM_LT, CLOSE_SCIM_LE,
    CLOSE_SCIM_HAS /* a value path: attr[filter], or attr[filter].sub op value */
} close_scim_op;

typedef enum { CLOSE_SCIM_STRING, CLOSE_SCIM_NUMBER, CLOSE_SCIM_TRUE, CLOSE_SCIM_FALSE, CLOSE_SCIM_NULL } close_scim_kind;

/* a byte range; s == NULL: absent */
typedef struct {
    const char *s;
    size_t len;
} close_scim_str;

typedef struct {
    close_scim_str schema; /* "urn:...:User" or absent */
    close_scim_str name;
    close_scim_str sub; /* or absent */
} close_scim_attr;

typedef struct close_scim_node {
    close_scim_op op;
    close_scim_attr attr;          /* comparisons, pr, has */
    close_scim_kind kind;          /* comparisons */
    close_scim_str str;            /* kind STRING: the decoded bytes */
    double num;                    /* kind NUMBER: finite */
    struct close_scim_node *left;  /* and/or; not's operand; has's filter */
    struct close_scim_node *right; /* and/or; has's test of a matching element or NULL: a pr or
                                      comparison whose attr is the sub-attribute's bare name
                                      (emails[type eq "work"].value ew "@x.com") */
} close_scim_node;

/* A PATCH path: attr (schema, name, sub) [filter] ("emails[type eq "work"].value"
 * has name emails, filter and sub value; "name.givenName" has no filter). */
typedef struct {
    close_scim_attr attr;
    close_scim_node *filter; /* or NULL */
} close_scim_path;

/* Where nodes and decoded strings go. Strings of the tree point into the
 * input or into text, so both must outlive the tree. */
typedef struct {
    close_scim_node *nodes;
    size_t cap, used;
    char *text; /* at least the input's length */
    size_t text_cap, text_used;
} close_scim_arena;

/* An empty arena over nodes[0..cap) and text[0..text_cap). */
close_scim_arena close_scim_arena_init(close_scim_node *nodes, size_t cap, char *text, size_t text_cap);

typedef struct {
    size_t pos; /* 1-based byte offset of the problem */
    const char *reason;
} close_scim_error;

/* Parse a filter / a PATCH path of len bytes. Returns the root (or 1 for a
 * path) and 0/NULL with err set on a syntax error or a limit. */
close_scim_node *close_scim_parse_filter(const char *in, size_t len, close_scim_arena *a, close_scim_error *err);
int close_scim_parse_path(const char *in, size_t len, close_scim_arena *a, close_scim_path *out, close_scim_error *err);

/* The canonical text: lowercase operators, strings quoted with JSON escapes,
 * numbers in their shortest exact form, parentheses only where needed.
 * Writes at most cap bytes (NUL-terminated when cap > 0) and returns the
 * length of the whole text, like snprintf; (size_t)-1 when the tree cannot
 * be printed (a bad name, a non-finite number, too deep), with *why set. */
size_t close_scim_print_filter(const close_scim_node *n, char *out, size_t cap, const char **why);
size_t close_scim_print_path(const close_scim_path *p, char *out, size_t cap, const char **why);

/* Names as the grammar allows them (ATTRNAME, "$ref"; a schema URN). */
int close_scim_valid_name(const char *s, size_t len);
int close_scim_valid_schema(const char *s, size_t len);

/* Trees equal in structure and values (names compared exactly). */
int close_scim_equal(const close_scim_node *a, const close_scim_node *b);

const char *close_scim_op_name(close_scim_op op);
/* op by name in any case; -1 if none */
int close_scim_op_from(const char *s, size_t len);

#endif
