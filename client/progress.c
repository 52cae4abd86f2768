/*
 * progress — see progress.h.
 *
 * The rate is an exponentially smoothed average sampled at each redraw, so
 * the ETA does not jump with every chunk. Bytes that were already on the
 * broker before a resume do not count towards the rate.
 */
#include "client/i18n.h"
#include "client/progress.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

double
progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *
progress_format_size(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	double v;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, outlen, "%u B", (unsigned)bytes);
		return out;
	}
	v = (double)bytes / 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	/* Truncate rather than round so "1023.9 KiB" never shows as 1024. */
	if (v < 10)
		snprintf(out, outlen, "%.2f %s", floor(v * 100) / 100, units[u]);
	else if (v < 100)
		snprintf(out, outlen, "%.1f %s", floor(v * 10) / 10, units[u]);
	else
		snprintf(out, outlen, "%.0f %s", floor(v), units[u]);
	return out;
}

char *
progress_format_rate(double bps, char *out, size_t outlen)
{
	char size[32];

	if (bps < 0 || !isfinite(bps)) {
		snprintf(out, outlen, "--");
		return out;
	}
	if (bps > 1e18)
		bps = 1e18;
	progress_format_size((uint64_t)bps, size, sizeof(size));
	snprintf(out, outlen, "%s/s", size);
	return out;
}

char *
progress_format_eta(double seconds, char *out, size_t outlen)
{
	unsigned long s;

	if (seconds < 0 || !isfinite(seconds)) {
		snprintf(out, outlen, "--:--");
		return out;
	}
	if (seconds >= 100.0 * 3600) {
		snprintf(out, outlen, ">99h");
		return out;
	}
	s = (unsigned long)ceil(seconds);
	if (s >= 3600)
		snprintf(out, outlen, "%lu:%02lu:%02lu", s / 3600,
		    s / 60 % 60, s % 60);
	else
		snprintf(out, outlen, "%lu:%02lu", s / 60, s % 60);
	return out;
}

char *
progress_format_line(uint64_t done, uint64_t total, double rate,
    unsigned width, char *out, size_t outlen)
{
	char sdone[32], stotal[32], srate[32], seta[32], tail[128];
	char bar[64];
	unsigned pct, barw, fill, i;
	double eta = -1;
	int taillen;

	if (done > total)
		done = total;
	pct = total == 0 ? 100 : (unsigned)((double)done * 100.0 /
	    (double)total);
	if (rate > 0)
		eta = (double)(total - done) / rate;
	else if (done == total)
		eta = 0;
	progress_format_size(done, sdone, sizeof(sdone));
	progress_format_size(total, stotal, sizeof(stotal));
	progress_format_rate(rate, srate, sizeof(srate));
	progress_format_eta(eta, seta, sizeof(seta));
	/* TRANSLATORS: progress bar tail: done/total, rate, time left. */
	taillen = snprintf(tail, sizeof(tail), _("%s/%s  %s  ETA %s"), sdone,
	    stotal, srate, seta);
	if (taillen < 0)
		taillen = 0;

	/* "100% [" + bar + "] " + tail; the bar takes what is left. */
	if (width > (unsigned)taillen + 8 + 10) {
		barw = width - (unsigned)taillen - 8;
		if (barw > sizeof(bar) - 1)
			barw = sizeof(bar) - 1;
		fill = total == 0 ? barw : (unsigned)((double)done *
		    barw / (double)total);
		for (i = 0; i < barw; i++)
			bar[i] = i < fill ? '#' : ' ';
		bar[barw] = '\0';
		snprintf(out, outlen, "%3u%% [%s] %s", pct, bar, tail);
	} else
		snprintf(out, outlen, "%3u%% %s", pct, tail);
	if (outlen > width && width > 0)
		out[width] = '\0';
	return out;
}

void
progress_start(struct progress *p, FILE *f, int enabled, uint64_t total,
    uint64_t offset, double now)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->enabled = enabled;
	p->total = total;
	p->base = offset;
	p->t0 = p->rate_t = now;
	p->last = now - 1.0;
	p->rate = -1;
	p->rate_done = offset;
	p->width = 79;
	if (enabled) {
		struct winsize ws;

		/* One column short of the edge: some terminals wrap there. */
		if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
			p->width = ws.ws_col - 1u;
		if (p->width > PROGRESS_LINE)
			p->width = PROGRESS_LINE;
	}
}

int
progress_update(struct progress *p, uint64_t done, double now, int force)
{
	char line[PROGRESS_LINE + 1];
	double dt;

	if (!p->enabled)
		return 0;
	if (!force && now - p->last < 1.0 / PROGRESS_HZ)
		return 0;
	dt = now - p->rate_t;
	if (dt >= 0.2 && done >= p->rate_done) {
		double sample = (double)(done - p->rate_done) / dt;

		p->rate = p->rate < 0 ? sample : 0.7 * p->rate + 0.3 * sample;
		p->rate_done = done;
		p->rate_t = now;
	}
	p->last = now;
	progress_format_line(done, p->total, p->rate, p->width, line,
	    sizeof(line));
	fprintf(p->f, "\r%s\033[K", line);
	fflush(p->f);
	p->drawn = 1;
	return 1;
}

void
progress_clear(struct progress *p)
{
	if (!p->enabled || !p->drawn)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->drawn = 0;
}
