/*
 * tzone — UTC offsets of an IANA time zone without touching process state.
 *
 * localtime_r() depends on the process-wide TZ setting, and changing it
 * (setenv + tzset) is neither thread-safe nor acceptable inside a library.
 * tzone instead asks ICU, once at load time, for every offset transition of
 * the zone in a bounded range of years and keeps them in a sorted table;
 * looking an offset up afterwards is a binary search that neither allocates
 * nor locks, so it may be called from any thread and from policy_decide.
 *
 * Accepted names: IANA zone ids known to ICU ("Asia/Tokyo", "UTC") and
 * fixed offsets written "+HH:MM" or "-HH:MM" (up to 14:00).
 *
 * Ownership: tzone_load returns a zone the caller frees with tzone_free.
 */
#ifndef SEKISHO_TZONE_H
#define SEKISHO_TZONE_H

#include <stddef.h>
#include <stdint.h>

/* Transitions are computed for [1970, 2100); outside it the nearest known
 * offset applies. */
#define TZONE_FIRST_YEAR 1970
#define TZONE_LAST_YEAR 2100
#define TZONE_NAME_MAX 64

struct tzone;

/* Loads zone name. -1 with a one-line message in err for unknown zones. */
int tzone_load(const char *name, struct tzone **out, char *err,
    size_t errlen);
void tzone_free(struct tzone *z);

/* The canonical name the zone was loaded with. */
const char *tzone_name(const struct tzone *z);

/* Seconds east of UTC in force at instant t (seconds since the epoch). */
int32_t tzone_offset(const struct tzone *z, int64_t t);

/*
 * The instant at which local wall-clock time `local` (seconds since the
 * epoch as if the zone were UTC) occurs. Inside a daylight-saving gap or
 * overlap the result is one of the two candidate instants.
 */
int64_t tzone_from_local(const struct tzone *z, int64_t local);

#endif
