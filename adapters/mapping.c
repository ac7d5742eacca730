/* mapping.c — date formats and JSON helpers shared by the adapters (the code
 * tables are data: codes.c, codes/). */
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : d[m - 1];
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int check_fields(const char *what, const char *s, int y, int mo, int d, int h, int mi, int se,
			struct lt_err *err)
{
	if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    se > 60 || h < 0 || mi < 0 || se < 0)
		return lt_err_set(err, LT_EINVAL, "%s \"%.40s\" is not a real date and time", what, s);
	return LT_OK;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int64_t to_unix(int y, int mo, int d, int h, int mi, int se, int offset_s)
{
	return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_s;
}

static void from_unix(int64_t t, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
	t += LT_TZ_OFFSET_S;
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t rem = t - days * 86400;
	civil_from_days(days, y, mo, d);
	*h = (int)(rem / 3600);
	*mi = (int)(rem % 3600 / 60);
	*se = (int)(rem % 60);
}

int lt_date_parse_rfc3339(const char *s, int64_t *unix_s, struct lt_err *err)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0;
	size_t n = s ? strlen(s) : 0;
	if (n < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
		return lt_err_set(err, LT_EINVAL, "date \"%.40s\" is not RFC 3339 (2026-11-24T09:00:00+07:00)", s ? s : "");
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int sign = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && !digits(p + 1, 2, &oh) && p[3] == ':' && !digits(p + 4, 2, &om)) {
		sign = *p == '+' ? 1 : -1;
		p += 6;
	} else {
		return lt_err_set(err, LT_EINVAL, "date \"%.40s\" has no UTC offset", s);
	}
	if (*p || oh > 23 || om > 59)
		return lt_err_set(err, LT_EINVAL, "date \"%.40s\" is not RFC 3339", s);
	if (check_fields("date", s, y, mo, d, h, mi, se, err))
		return LT_EINVAL;
	*unix_s = to_unix(y, mo, d, h, mi, se, sign * (oh * 3600 + om * 60));
	return LT_OK;
}

void lt_date_format_rfc3339(int64_t t, char out[32])
{
	int y, mo, d, h, mi, se;
	from_unix(t, &y, &mo, &d, &h, &mi, &se);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d" LT_TZ_OFFSET, y, mo, d, h, mi, se);
}

int lt_date_parse_compact(const char *s, int64_t *unix_s, struct lt_err *err)
{
	int y, mo, d, h, mi, se;
	if (!s || strlen(s) != 14 || digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) ||
	    digits(s + 8, 2, &h) || digits(s + 10, 2, &mi) || digits(s + 12, 2, &se))
		return lt_err_set(err, LT_EINVAL, "date \"%.40s\" is not yyyyMMddHHmmss", s ? s : "");
	if (check_fields("date", s, y, mo, d, h, mi, se, err))
		return LT_EINVAL;
	*unix_s = to_unix(y, mo, d, h, mi, se, LT_TZ_OFFSET_S);
	return LT_OK;
}

void lt_date_format_compact(int64_t t, char out[16])
{
	int y, mo, d, h, mi, se;
	from_unix(t, &y, &mo, &d, &h, &mi, &se);
	snprintf(out, 16, "%04d%02d%02d%02d%02d%02d", y, mo, d, h, mi, se);
}

int lt_date_parse_vn(const char *s, int64_t *unix_s, struct lt_err *err)
{
	int y, mo, d, h, mi, se;
	if (!s || strlen(s) != 19 || digits(s, 2, &d) || s[2] != '/' || digits(s + 3, 2, &mo) || s[5] != '/' ||
	    digits(s + 6, 4, &y) || s[10] != ' ' || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &se))
		return lt_err_set(err, LT_EINVAL, "date \"%.40s\" is not dd/MM/yyyy HH:mm:ss", s ? s : "");
	if (check_fields("date", s, y, mo, d, h, mi, se, err))
		return LT_EINVAL;
	*unix_s = to_unix(y, mo, d, h, mi, se, LT_TZ_OFFSET_S);
	return LT_OK;
}

void lt_date_format_vn(int64_t t, char out[20])
{
	int y, mo, d, h, mi, se;
	from_unix(t, &y, &mo, &d, &h, &mi, &se);
	snprintf(out, 20, "%02d/%02d/%04d %02d:%02d:%02d", d, mo, y, h, mi, se);
}

int lt_date_rfc3339_to_compact(const char *s, char out[16], struct lt_err *err)
{
	int64_t t;
	if (lt_date_parse_rfc3339(s, &t, err))
		return LT_EINVAL;
	lt_date_format_compact(t, out);
	return LT_OK;
}

int lt_date_rfc3339_to_vn(const char *s, char out[20], struct lt_err *err)
{
	int64_t t;
	if (lt_date_parse_rfc3339(s, &t, err))
		return LT_EINVAL;
	lt_date_format_vn(t, out);
	return LT_OK;
}

const json_t *lt_json_dig(const json_t *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

const char *lt_json_str(const json_t *o, const char *path)
{
	const char *s = json_string_value(lt_json_dig(o, path));
	return s && *s ? s : NULL;
}

void lt_json_put_str(json_t *o, const char *key, const char *value)
{
	if (value && *value)
		json_object_set_new(o, key, json_string(value));
}

json_t *lt_json_parse(const char *what, const char *s, size_t len, size_t flags, struct lt_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(s ? s : "", s ? len : 0, JSON_REJECT_DUPLICATES | flags, &jerr);
	if (!doc)
		lt_err_set(err, LT_EINVAL, "%s is not valid JSON: %s at line %d column %d", what, jerr.text, jerr.line,
			   jerr.column);
	return doc;
}
