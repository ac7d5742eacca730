/* xmlutil.c — hardened parsing, XSD validation with element paths, and a
 * small document builder for the XML adapters. */
#include "xmlutil.h"
#include "sign_xml.h"
#include "adapter.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#if LIBXML_VERSION >= 21200
typedef const xmlError *xmlu_error_t;
#else
typedef xmlErrorPtr xmlu_error_t;
#endif

/* ---- errors: the first one reported during one parse or validation ---- */

struct first_error {
	char path[256];
	char msg[300];
	int seen;
};

/* Drop "{namespace-uri}" qualifiers from libxml2 messages: "{urn:x:1}maXa" → "maXa". */
static void strip_ns(char *s)
{
	char *r = s, *w = s;
	while (*r) {
		if (*r == '{') {
			char *close = strchr(r, '}');
			size_t n = close ? (size_t)(close - r) : 0;
			if (close && memchr(r, ':', n) && !memchr(r, '\'', n) && !memchr(r, ' ', n)) {
				r = close + 1;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/* libxml2 structured-error callback: keep the first error, with its element
 * path and a message stripped of "Element '…': " and namespace URIs. */
static void capture(void *ctx, xmlu_error_t e)
{
	struct first_error *fe = ctx;
	if (fe->seen || !e || e->level < XML_ERR_ERROR)
		return;
	fe->seen = 1;
	const char *m = e->message ? e->message : "invalid";
	char attr[80] = "";
	/* "Element '{ns}x', attribute 'y': reason" → path of x + "/@y", then reason */
	if (strncmp(m, "Element '", 9) == 0) {
		const char *end = strstr(m, "': ");
		if (end) {
			const char *a = strstr(m, ", attribute '");
			if (a && a < end)
				snprintf(attr, sizeof attr, "/@%.*s", (int)(end - a - 13), a + 13);
			m = end + 3;
		}
	}
	snprintf(fe->msg, sizeof fe->msg, "%s", m);
	fe->msg[strcspn(fe->msg, "\r\n")] = '\0';
	strip_ns(fe->msg);
	size_t n = strlen(fe->msg);
	if (n && fe->msg[n - 1] == '.')
		fe->msg[n - 1] = '\0';
	if (e->node && ((xmlNodePtr)e->node)->type == XML_ELEMENT_NODE)
		lt_xmlu_path(e->node, fe->path, sizeof fe->path - sizeof attr);
	strncat(fe->path, attr, sizeof fe->path - strlen(fe->path) - 1);
}

/* ---- schemas ----------------------------------------------------------- */

/* The whole file, malloc'd and NUL-terminated; NULL on any error. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct lt_buf b = { 0 };
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (lt_buf_append(&b, chunk, n)) {
			lt_buf_free(&b);
			fclose(f);
			return NULL;
		}
	int bad = ferror(f);
	fclose(f);
	if (bad || !b.data) {
		lt_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return b.data;
}

xmlSchemaPtr lt_xmlu_schema_load(const char *adapter, const char *kind, struct lt_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s/%s.xsd", lt_schema_dir(), adapter, kind);
	size_t len = 0;
	char *text = read_file(path, &len);
	if (!text || len > INT_MAX) {
		free(text);
		lt_err_set(err, LT_EIO, "cannot read schema %s: %s", path, strerror(errno ? errno : EIO));
		return NULL;
	}
	xmlInitParser();
	struct first_error fe = { 0 };
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewMemParserCtxt(text, (int)len);
	xmlSchemaPtr s = NULL;
	if (pc) {
		xmlSchemaSetParserStructuredErrors(pc, capture, &fe);
		s = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	free(text);
	if (!s)
		lt_err_set(err, LT_ECONFIG, "schema %s does not compile: %s%s%s", path, fe.path,
			   fe.path[0] ? ": " : "", fe.seen ? fe.msg : "out of memory");
	return s;
}

int lt_xmlu_validate(const xmlSchema *s, xmlDocPtr doc, struct lt_err *err)
{
	xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt((xmlSchemaPtr)s);
	if (!vc)
		return lt_err_set(err, LT_ENOMEM, "out of memory validating XML");
	struct first_error fe = { 0 };
	xmlSchemaSetValidStructuredErrors(vc, capture, &fe);
	int rc = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	if (rc == 0)
		return LT_OK;
	if (rc < 0)
		return lt_err_set(err, LT_ENOMEM, "XML schema validation failed internally");
	return lt_err_set(err, LT_ESCHEMA, "%s: %s", fe.path[0] ? fe.path : "/",
			  fe.seen ? fe.msg : "does not match the schema");
}

/* ---- parsing ------------------------------------------------------------ */

/* Refuse any markup declaration (<!DOCTYPE, <!ENTITY…) outside comments, CDATA
 * sections and processing instructions, before the parser sees the bytes. */
static int has_declaration(const char *xml, size_t len)
{
	static const char *const skip[][2] = { { "<!--", "-->" }, { "<![CDATA[", "]]>" }, { "<?", "?>" } };
	const char *p = xml, *end = xml + len;
	while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		size_t left = (size_t)(end - p), i, n = 0;
		for (i = 0; i < 3; i++)
			if (left >= (n = strlen(skip[i][0])) && memcmp(p, skip[i][0], n) == 0)
				break;
		if (i < 3) {
			const char *close = memmem(p + n, left - n, skip[i][1], strlen(skip[i][1]));
			if (!close)
				return 0; /* unterminated: the parser reports it */
			p = close + strlen(skip[i][1]);
		} else if (left >= 2 && p[1] == '!') {
			return 1;
		} else {
			p++;
		}
	}
	return 0;
}

/* Whether the element tree under root is deeper than LT_XMLU_MAX_DEPTH. */
int lt_xmlu_parse(const char *xml, size_t len, xmlDocPtr *docp, struct lt_err *err)
{
	*docp = NULL;
	if (len > INT_MAX)
		return lt_err_set(err, LT_ETOOBIG, "XML document too large");
	if (has_declaration(xml, len))
		return lt_err_set(err, LT_EINVAL, "document type declaration not allowed "
				  "(DTDs and entity declarations are refused)");
	xmlInitParser();
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return lt_err_set(err, LT_ENOMEM, "out of memory parsing XML");
	int rc = LT_OK;
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
					  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		xmlu_error_t e = xmlCtxtGetLastError(ctxt);
		char msg[200] = "not well-formed";
		if (e && e->message) {
			snprintf(msg, sizeof msg, "%s", e->message);
			msg[strcspn(msg, "\r\n")] = '\0';
		}
		rc = lt_err_set(err, LT_EINVAL, "malformed XML: line %d: %s", e ? e->line : 0, msg);
	} else if (doc->intSubset || doc->extSubset) {
		rc = lt_err_set(err, LT_EINVAL, "document type declaration not allowed "
				"(DTDs and entity declarations are refused)");
	} else if (!xmlDocGetRootElement(doc)) {
		rc = lt_err_set(err, LT_EINVAL, "malformed XML: no root element");
	} else if (lt_xml_tree_deeper_than(xmlDocGetRootElement(doc), LT_XMLU_MAX_DEPTH)) {
		rc = lt_err_set(err, LT_EINVAL, "document too deep (more than %d levels)", LT_XMLU_MAX_DEPTH);
	}
	xmlFreeParserCtxt(ctxt);
	if (rc) {
		xmlFreeDoc(doc);
		return rc;
	}
	*docp = doc;
	return LT_OK;
}

/* ---- reading ------------------------------------------------------------ */

int lt_xmlu_is(const xmlNode *n, const char *ns, const char *local)
{
	if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local) != 0)
		return 0;
	if (!ns)
		return 1;
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

xmlNodePtr lt_xmlu_child(const xmlNode *parent, const char *local)
{
	if (!parent)
		return NULL;
	for (xmlNodePtr c = xmlFirstElementChild((xmlNodePtr)parent); c; c = xmlNextElementSibling(c))
		if (lt_xmlu_is(c, NULL, local))
			return c;
	return NULL;
}

xmlNodePtr lt_xmlu_next(const xmlNode *n, const char *local)
{
	for (xmlNodePtr c = n ? xmlNextElementSibling((xmlNodePtr)n) : NULL; c; c = xmlNextElementSibling(c))
		if (lt_xmlu_is(c, NULL, local))
			return c;
	return NULL;
}

/* s without surrounding XML white space, malloc'd; NULL when nothing is left. */
static char *trimmed_dup(const char *s)
{
	if (!s)
		return NULL;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	return n ? strndup(s, n) : NULL;
}

char *lt_xmlu_text(const xmlNode *parent, const char *local)
{
	const xmlNode *el = local ? lt_xmlu_child(parent, local) : parent;
	if (!el)
		return NULL;
	xmlChar *c = xmlNodeGetContent(el);
	char *s = trimmed_dup((const char *)c);
	xmlFree(c);
	return s;
}

char *lt_xmlu_attr_text(const xmlNode *el, const char *name)
{
	if (!el)
		return NULL;
	xmlChar *v = xmlGetNoNsProp(el, (const xmlChar *)name);
	char *s = trimmed_dup((const char *)v);
	xmlFree(v);
	return s;
}

xmlNodePtr lt_xmlu_child_ns(const xmlNode *parent, const char *ns, const char *local)
{
	for (xmlNodePtr c = parent ? xmlFirstElementChild((xmlNodePtr)parent) : NULL; c; c = xmlNextElementSibling(c))
		if (lt_xmlu_is(c, ns, local))
			return c;
	return NULL;
}

int lt_xmlu_signed_text(const xmlNode *el, const char *attr, const char *field, char *out, size_t cap,
			struct lt_err *err)
{
	char *s = attr ? lt_xmlu_attr_text(el, attr) : lt_xmlu_text(el, NULL);
	size_t n = s ? strlen(s) : 0;
	int rc = LT_OK;
	out[0] = '\0';
	if (n >= cap)
		rc = lt_err_set(err, LT_EAUTH, "%s of the signed document is longer than %zu bytes", field, cap - 1);
	else if (s)
		memcpy(out, s, n + 1);
	free(s);
	return rc;
}

void lt_xmlu_path(const xmlNode *n, char *out, size_t cap)
{
	const xmlNode *chain[LT_XMLU_MAX_DEPTH + 8];
	int depth = 0;
	for (; n && n->type == XML_ELEMENT_NODE && depth < (int)(sizeof chain / sizeof *chain); n = n->parent)
		chain[depth++] = n;
	size_t used = 0;
	out[0] = '\0';
	while (depth-- > 0 && used < cap) {
		const xmlNode *e = chain[depth];
		int pos = 1, repeated = 0;
		for (const xmlNode *s = e->prev; s; s = s->prev)
			if (s->type == XML_ELEMENT_NODE && strcmp((const char *)s->name, (const char *)e->name) == 0)
				pos++;
		for (const xmlNode *s = e->next; s && !repeated; s = s->next)
			repeated = s->type == XML_ELEMENT_NODE && strcmp((const char *)s->name, (const char *)e->name) == 0;
		int k = (pos > 1 || repeated) ? snprintf(out + used, cap - used, "/%s[%d]", e->name, pos)
					      : snprintf(out + used, cap - used, "/%s", e->name);
		used += k > 0 ? (size_t)k : 0;
	}
}

/* ---- writing ------------------------------------------------------------ */

/* Whether every character of UTF-8 s is one XML 1.0 can carry. */
static int xml_chars_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return 0;
		if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) /* U+FFFE, U+FFFF */
			return 0;
	}
	return 1;
}

/* w->rc, after refusing text XML cannot carry (naming field). */
static int check_text(struct lt_xmlu_w *w, const char *text, const char *field)
{
	if (w->rc)
		return w->rc;
	if (text && !xml_chars_ok(text))
		w->rc = lt_err_set(w->err, LT_ESCHEMA, "%s: contains a character XML cannot carry", field);
	return w->rc;
}

xmlNodePtr lt_xmlu_begin(struct lt_xmlu_w *w, struct lt_err *err, const char *ns_href, const char *prefix,
			 const char *name)
{
	memset(w, 0, sizeof *w);
	w->err = err;
	xmlInitParser();
	w->doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr root = w->doc ? xmlNewDocNode(w->doc, NULL, (const xmlChar *)name, NULL) : NULL;
	if (root) {
		xmlDocSetRootElement(w->doc, root);
		w->ns = xmlNewNs(root, (const xmlChar *)ns_href, (const xmlChar *)prefix);
		xmlSetNs(root, w->ns);
	}
	if (!root || !w->ns) {
		w->rc = lt_err_set(err, LT_ENOMEM, "out of memory building XML");
		return NULL;
	}
	return root;
}

xmlNodePtr lt_xmlu_add(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const char *text,
		       const char *field)
{
	if (!parent || check_text(w, text, field))
		return NULL;
	xmlNodePtr el = xmlNewTextChild(parent, w->ns, (const xmlChar *)name, (const xmlChar *)text);
	if (!el)
		w->rc = lt_err_set(w->err, LT_ENOMEM, "out of memory building XML");
	return el;
}

xmlNodePtr lt_xmlu_add_opt(struct lt_xmlu_w *w, xmlNodePtr parent, const char *name, const char *text,
			   const char *field)
{
	return text && *text ? lt_xmlu_add(w, parent, name, text, field) : NULL;
}

void lt_xmlu_set(struct lt_xmlu_w *w, xmlNodePtr el, const char *name, const char *value, const char *field)
{
	if (!el || !value || check_text(w, value, field))
		return;
	if (!xmlNewProp(el, (const xmlChar *)name, (const xmlChar *)value))
		w->rc = lt_err_set(w->err, LT_ENOMEM, "out of memory building XML");
}

int lt_xmlu_finish(struct lt_xmlu_w *w, const xmlSchema *check, const char *what, struct lt_buf *out)
{
	int rc = w->rc;
	if (!rc && check) {
		struct lt_err verr = { 0 };
		if (lt_xmlu_validate(check, w->doc, &verr))
			rc = lt_err_set(w->err, verr.code, "the %s document would not be valid: %s", what, verr.msg);
	}
	if (!rc) {
		xmlChar *mem = NULL;
		int size = 0;
		xmlDocDumpMemoryEnc(w->doc, &mem, &size, "UTF-8");
		if (!mem || size <= 0 || lt_buf_append(out, mem, (size_t)size))
			rc = lt_err_set(w->err, LT_ENOMEM, "out of memory serializing XML");
		xmlFree(mem);
	}
	xmlFreeDoc(w->doc);
	w->doc = NULL;
	w->rc = rc;
	return rc;
}
