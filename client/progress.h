/*
 * progress — the upload progress bar on a terminal.
 *
 * Drawn on one line of a stream (stderr) with carriage returns, at most
 * PROGRESS_HZ times a second; does nothing when disabled (stderr not a TTY,
 * or --json). Time is passed in by the caller (monotonic seconds) so the
 * drawing decisions and the rate/ETA arithmetic are deterministic.
 *
 * The formatting helpers are pure and write into caller buffers.
 */
#ifndef SEKISHO_PROGRESS_H
#define SEKISHO_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_HZ 10
#define PROGRESS_LINE 128

struct progress {
	FILE *f;
	int enabled;
	int drawn;		/* a line is on screen */
	uint64_t total;		/* bytes of the whole file */
	uint64_t base;		/* bytes already on the broker when we started */
	double t0;		/* time of progress_start */
	double last;		/* time of the last redraw */
	double rate;		/* smoothed bytes/s of this session */
	unsigned width;		/* columns to draw in */
	uint64_t rate_done;	/* bytes at the last rate sample */
	double rate_t;		/* time of the last rate sample */
};

/* Current monotonic time in seconds. */
double progress_now(void);

/* Starts a bar for total bytes of which offset are already done. */
void progress_start(struct progress *p, FILE *f, int enabled,
    uint64_t total, uint64_t offset, double now);

/* Records done bytes; redraws if 1/PROGRESS_HZ s passed since the last
 * draw (or force). Returns 1 when it drew. */
int progress_update(struct progress *p, uint64_t done, double now, int force);

/* Erases the bar so the next message starts on a clean line. */
void progress_clear(struct progress *p);

/* "512 B", "1.50 KiB", "12.0 MiB", "512 MiB", "3.25 GiB". */
char *progress_format_size(uint64_t bytes, char *out, size_t outlen);

/* Bytes per second as "1.50 MiB/s"; "--" when rate < 0 (unknown). */
char *progress_format_rate(double bytes_per_s, char *out, size_t outlen);

/* Seconds left as "0:05", "12:34", "1:02:03", ">99h"; "--:--" when
 * seconds < 0 (unknown). */
char *progress_format_eta(double seconds, char *out, size_t outlen);

/*
 * The whole bar line (no CR/newline), fitted to width columns:
 * " 42% [########        ] 1.20 GiB/2.86 GiB  12.0 MiB/s  ETA 2:21".
 * rate < 0 means unknown (rate and ETA show "--").
 */
char *progress_format_line(uint64_t done, uint64_t total, double rate,
    unsigned width, char *out, size_t outlen);

#endif
