/* xmlutil.h — libxml2 helpers shared by the XML adapters (civilreg, edxml).
 *
 * Reading: a hardened parse (no DTD, no entities, no network, bounded depth),
 * XSD validation whose errors name the element path, and lookups of children
 * by local name. Writing: a small document builder that remembers its first
 * error, so a builder can add many elements and check once at the end.
 *
 * Thread safety: a compiled schema is only read after lt_xmlu_schema_load;
 * every validation makes its own xmlSchemaValidCtxt. Nothing here keeps state. */
#ifndef LT_XMLUTIL_H
#define LT_XMLUTIL_H

#include <stddef.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include "lt.h"

#define LT_XMLU_DSIG_NS "http://www.w3.org/2000/09/xmldsig#"

/* Load and compile schemas/ADAPTER/KIND.xsd under lt_schema_dir(). The file is
 * read here and compiled from memory, so it works after lt_xml_init has made
 * libxml2 refuse to load files; a schema must therefore be self-contained (no
 * xs:include or xs:import). NULL with err (LT_EIO unreadable, LT_ECONFIG not a
 * schema). Free with xmlSchemaFree. */
xmlSchemaPtr lt_xmlu_schema_load(const char *adapter, const char *kind, struct lt_err *err);

/* Parse xml hardened: XML_PARSE_NONET, no entity substitution, no DTD loading.
 * Refuses (LT_EINVAL) malformed XML, any DTD or entity declaration ("document
 * type declaration not allowed"), namespace errors and documents deeper than
 * LT_XMLU_MAX_DEPTH. On success *doc is the caller's (xmlFreeDoc). */
#define LT_XMLU_MAX_DEPTH 64
int lt_xmlu_parse(const char *xml, size_t len, xmlDocPtr *doc, struct lt_err *err);

/* Validate doc against s with a fresh validation context. 0, or LT_ESCHEMA
 * with err like "/KetQuaDangKy/trangThai: [facet 'enumeration'] The value '5'
 * is not an element of the set {…}" — the path of the first offending node,
 * then libxml2's reason. */
int lt_xmlu_validate(const xmlSchema *s, xmlDocPtr doc, struct lt_err *err);

/* "/Root/child/grandchild" of an element by local names; a repeated sibling
 * gets its 1-based position ("/DanhSachKetQua/KetQuaDangKy[2]/trangThai"). */
void lt_xmlu_path(const xmlNode *n, char *out, size_t cap);

/* Whether n is an element with this local name (and namespace, unless ns is NULL). */
int lt_xmlu_is(const xmlNode *n, const char *ns, const char *local);
/* The first element child of parent with this local name, or NULL. */
xmlNodePtr lt_xmlu_child(const xmlNode *parent, const char *local);
/* The next element sibling after n with this local name, or NULL. */
xmlNodePtr lt_xmlu_next(const xmlNode *n, const char *local);
/* Text of the child `local` of parent (or of parent itself when local is
 * NULL), with leading and trailing white space removed; malloc'd (free()).
 * NULL when the element is absent or its text is empty. */
char *lt_xmlu_text(const xmlNode *parent, const char *local);
/* Value of attribute `name` (no namespace), trimmed, malloc'd; NULL if absent or empty. */
char *lt_xmlu_attr_text(const xmlNode *el, const char *name);

/* For an adapter's signed-field reader (lt_xml_kind in adapter.h): the first
 * element child of parent in namespace ns called local, or NULL. */
xmlNodePtr lt_xmlu_child_ns(const xmlNode *parent, const char *ns, const char *local);
/* The trimmed text of el, or of its attribute attr (no namespace) when attr is
 * not NULL, into out (cap bytes): "" when el, the attribute or the text is
 * absent; LT_EAUTH naming `field` when it is longer than cap - 1 bytes. */
int lt_xmlu_signed_text(const xmlNode *el, const char *attr, const char *field, char *out, size_t cap,
			struct lt_err *err);

/* A document being written. Every call after the first failure does nothing,
 * so a builder checks w->rc once before lt_xmlu_finish. */
struct lt_xmlu_w {
	xmlDocPtr doc;
	xmlNsPtr ns;               /* namespace of every element written */
	int rc;                    /* first error, LT_OK while fine */
	struct lt_err *err;
};

/* Start a document whose root is `name` in namespace ns_href (prefix NULL =
 * default namespace). Returns the root, or NULL with w->rc set. */
xmlNodePtr lt_xmlu_begin(struct lt_xmlu_w *w, struct lt_err *err, const char *ns_href, const char *prefix,
			 const char *name);
/* Append element `name` to parent with text (NULL = empty element). `field`
 * names the source of the text for an error message: text with a character
 * XML 1.0 cannot carry (controls other than tab, CR, LF) fails with LT_ESCHEMA
 * "FIELD: contains a character XML cannot carry". Returns the element or NULL. */
xmlNodePtr lt_xmlu_add(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const char *text,
		       const char *field);
/* As lt_xmlu_add, but writes nothing when text is NULL or "". */
xmlNodePtr lt_xmlu_add_opt(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const char *text,
			   const char *field);
/* Set attribute name=value on el (skipped when value is NULL); same checks. */
void lt_xmlu_set(struct lt_xmlu_w *w, xmlNodePtr el, const char *name, const char *value, const char *field);

/* Finish: when w->rc is 0, validate against check (may be NULL; a failure
 * means the encoder wrote something the peer's schema refuses: LT_ESCHEMA
 * "the PEER document would not be valid: /path: reason") and serialize as
 * UTF-8 with an XML declaration into out. Frees the document in every case.
 * Returns w->rc or the first error. */
int lt_xmlu_finish(struct lt_xmlu_w *w, const xmlSchema *check, const char *what, struct lt_buf *out);

#endif
