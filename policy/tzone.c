/*
 * tzone — see tzone.h.
 *
 * ICU is the zone database here because it is a maintained library with a C
 * API whose calendar objects carry their own zone: nothing global is read or
 * written after load. ICU is used only inside tzone_load; the table it
 * produces is plain data, so lookups are lock-free and allocation-free.
 * Fixed "+HH:MM" offsets are parsed here because they are trivial and let an
 * administrator avoid any dependency on the zone database.
 */
#include "policy/tzone.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/ucal.h>
#include <unicode/ustring.h>

/* Enough for every zone in the database over 130 years (two per year). */
#define TZONE_MAX_TRANSITIONS 1024

struct tzone {
	char name[TZONE_NAME_MAX];
	size_t n;			/* >= 1 */
	int64_t *at;			/* at[0] is INT64_MIN */
	int32_t *off;			/* offset from at[i] on */
};

static int64_t
year_start(int y)
{
	/* Days from 1970-01-01 to y-01-01 (proleptic Gregorian). */
	int64_t days = 0;
	int i;

	for (i = 1970; i < y; i++)
		days += (i % 4 == 0 && (i % 100 != 0 || i % 400 == 0)) ? 366 :
		    365;
	return days * 86400;
}

static int
parse_fixed(const char *s, int32_t *off)
{
	int h, m, sign;

	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
		return -1;
	if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    s[4] < '0' || s[4] > '5' || s[5] < '0' || s[5] > '9')
		return -1;
	sign = s[0] == '-' ? -1 : 1;
	h = (s[1] - '0') * 10 + (s[2] - '0');
	m = (s[4] - '0') * 10 + (s[5] - '0');
	if (h > 14 || (h == 14 && m != 0))
		return -1;
	*off = sign * (h * 3600 + m * 60);
	return 0;
}

static struct tzone *
zone_new(const char *name, size_t cap)
{
	struct tzone *z;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	z->at = calloc(cap, sizeof(*z->at));
	z->off = calloc(cap, sizeof(*z->off));
	if (z->at == NULL || z->off == NULL) {
		tzone_free(z);
		return NULL;
	}
	(void)util_strlcpy(z->name, name, sizeof(z->name));
	return z;
}

static int32_t
cal_offset(UCalendar *cal, UErrorCode *st)
{
	int32_t ms;

	ms = ucal_get(cal, UCAL_ZONE_OFFSET, st);
	ms += ucal_get(cal, UCAL_DST_OFFSET, st);
	return ms / 1000;
}

static int
load_icu(const char *name, struct tzone **out, char *err, size_t errlen)
{
	UChar uid[TZONE_NAME_MAX], canon[TZONE_NAME_MAX];
	UErrorCode st = U_ZERO_ERROR;
	UBool system = 0;
	UCalendar *cal = NULL;
	struct tzone *z = NULL;
	UDate next, end;
	int32_t off;

	u_uastrncpy(uid, name, TZONE_NAME_MAX);
	ucal_getCanonicalTimeZoneID(uid, -1, canon, TZONE_NAME_MAX, &system,
	    &st);
	if (U_FAILURE(st) || !system)
		return util_err(err, errlen, "unknown time zone '%s'", name);
	cal = ucal_open(uid, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st) || cal == NULL)
		return util_err(err, errlen, "time zone '%s': %s", name,
		    u_errorName(st));
	if ((z = zone_new(name, TZONE_MAX_TRANSITIONS)) == NULL) {
		ucal_close(cal);
		return util_err(err, errlen, "out of memory");
	}
	ucal_setMillis(cal, (UDate)year_start(TZONE_FIRST_YEAR) * 1000.0, &st);
	off = cal_offset(cal, &st);
	z->at[0] = INT64_MIN;
	z->off[0] = off;
	z->n = 1;
	end = (UDate)year_start(TZONE_LAST_YEAR) * 1000.0;
	while (U_SUCCESS(st) && ucal_getTimeZoneTransitionDate(cal,
	    UCAL_TZ_TRANSITION_NEXT, &next, &st) && U_SUCCESS(st) &&
	    next < end) {
		ucal_setMillis(cal, next, &st);
		off = cal_offset(cal, &st);
		if (U_FAILURE(st))
			break;
		if (off == z->off[z->n - 1])
			continue;	/* a rename or abbreviation change */
		if (z->n == TZONE_MAX_TRANSITIONS) {
			st = U_BUFFER_OVERFLOW_ERROR;
			break;
		}
		z->at[z->n] = (int64_t)(next / 1000.0);
		z->off[z->n] = off;
		z->n++;
	}
	ucal_close(cal);
	if (U_FAILURE(st)) {
		tzone_free(z);
		return util_err(err, errlen, "time zone '%s': %s", name,
		    u_errorName(st));
	}
	*out = z;
	return 0;
}

int
tzone_load(const char *name, struct tzone **out, char *err, size_t errlen)
{
	struct tzone *z;
	int32_t off;
	size_t i;

	*out = NULL;
	if (name == NULL || name[0] == '\0' ||
	    strlen(name) >= TZONE_NAME_MAX)
		return util_err(err, errlen, "time zone name missing or too "
		    "long");
	for (i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f)
			return util_err(err, errlen, "unknown time zone");
	}
	if (name[0] == '+' || name[0] == '-') {
		if (parse_fixed(name, &off) != 0)
			return util_err(err, errlen, "time zone '%s': fixed "
			    "offsets are written +HH:MM or -HH:MM", name);
		if ((z = zone_new(name, 1)) == NULL)
			return util_err(err, errlen, "out of memory");
		z->at[0] = INT64_MIN;
		z->off[0] = off;
		z->n = 1;
		*out = z;
		return 0;
	}
	return load_icu(name, out, err, errlen);
}

void
tzone_free(struct tzone *z)
{
	if (z == NULL)
		return;
	free(z->at);
	free(z->off);
	free(z);
}

const char *
tzone_name(const struct tzone *z)
{
	return z->name;
}

int32_t
tzone_offset(const struct tzone *z, int64_t t)
{
	size_t lo = 0, hi = z->n;

	/* Largest i with at[i] <= t; at[0] is INT64_MIN so i exists. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

int64_t
tzone_from_local(const struct tzone *z, int64_t local)
{
	int32_t o1, o2;

	o1 = tzone_offset(z, local - tzone_offset(z, local));
	o2 = tzone_offset(z, local - o1);
	return local - o2;
}
