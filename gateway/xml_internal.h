/* xml_internal.h — what sign_xml.c shares with verify_xml.c; not part of the API.
 *
 * sign_xml.c owns the process-wide xmlsec state, the capture of xmlsec's errors and the
 * hardened parser; verify_xml.c uses them to check a peer's signature. */
#ifndef LT_XML_INTERNAL_H
#define LT_XML_INTERNAL_H

#include <stddef.h>
#include <libxml/tree.h>
#include "lt.h"

#define LT_DSIG_NS "http://www.w3.org/2000/09/xmldsig#"

/* Forget this thread's captured xmlsec error; every call that runs xmlsec starts with it. */
void lt_xmlsec_error_clear(void);

/* The first xmlsec error on this thread since lt_xmlsec_error_clear, or fallback when
 * xmlsec reported none. The text stays valid until the thread's next clear. */
const char *lt_xmlsec_error_or(const char *fallback);

/* Parse xml with no network, no entity substitution, no DTD loading or defaulting; refuse
 * a DTD, namespace errors and more than LT_XML_MAX_DEPTH levels. Refusals use code (LT_EAUTH
 * when verifying, LT_EINVAL when signing); LT_ETOOBIG past INT_MAX bytes, LT_ENOMEM. On
 * success *docp is the document (caller frees with xmlFreeDoc), else NULL. */
int lt_xml_parse_hardened(const char *xml, size_t len, int code, xmlDocPtr *docp, struct lt_err *err);

/* Whether n is the XML-DSig element called name. n may be NULL. */
int lt_xml_is_dsig(const xmlNode *n, const char *name);

/* How many ds:Signature elements root holds (itself included); *first the first one or NULL. */
int lt_xml_count_signatures(xmlNodePtr root, xmlNodePtr *first);

#endif
