// Dates are shown in the register's time zone, not the terminal's: a
// record stamped 23:30 in Tokyo must read 23:30 on every screen.
//
// The broker's whoami does not carry the register's zone yet; when it
// does ("zone", an IANA name), registerZone() takes it. Until then the
// register is in Japan.
export const REGISTER_TIME_ZONE_FALLBACK = "Asia/Tokyo";

// The zone to use: the API's if it is a zone this browser knows.
export function registerZone(who) {
  const z = who && typeof who.zone === "string" ? who.zone : null;
  if (z) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: z });
      return z;
    } catch (e) {
      // An unknown zone falls back rather than showing a wrong time.
    }
  }
  return REGISTER_TIME_ZONE_FALLBACK;
}

// "2026年12月8日 3:38" / "8 December 2026 at 03:38" in the given zone.
export function formatDateTime(date, lang, zone) {
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
    timeZone: zone, dateStyle: "long", timeStyle: "short",
  }).format(date);
}
