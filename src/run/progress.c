/* Progress line and end-of-run summary (progress.h). */
#include "fmr/run/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmr/cmd/cmd.h"
#include "fmr/util/log.h"

struct fmr_progress {
  fmr_progress_opts opts;
  size_t total, done, failed, slices;
  uint64_t total_work, work_done, work_fresh; /* fresh: processed, not reused */
  size_t fresh;
  double t_begin, t_first_fresh, last_print;
  int printed_live;
  size_t printed_done; /* `done` when the last line was printed: nothing new, no new line */
};

int fmr_progress_new(size_t total, uint64_t total_work, const fmr_progress_opts *opts, double now,
                     fmr_progress **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return -1;
  (*out)->opts = *opts;
  (*out)->total = total;
  (*out)->total_work = total_work;
  (*out)->t_begin = (*out)->last_print = now;
  (*out)->t_first_fresh = NAN;
  return 0;
}

void fmr_progress_free(fmr_progress **p) {
  if (!p || !*p) return;
  free(*p);
  *p = NULL;
}

void fmr_progress_volume(fmr_progress *p, uint64_t work, size_t slices, fmr_status status,
                         int reused, double now) {
  (void)now;
  p->done++;
  p->failed += status != FMR_STATUS_OK;
  p->work_done += work;
  if (!reused && status != FMR_STATUS_MISSING) {
    p->fresh++;
    p->work_fresh += work;
    p->slices += slices;
  }
}

/* The processing rate is measured from the start of the work loop: reused volumes are skipped in
 * milliseconds, so counting only fresh volumes' work over the whole time is a slight
 * underestimate early on and exact later. */
double fmr_progress_eta(const fmr_progress *p, double now) {
  double elapsed = now - p->t_begin;
  if (p->fresh == 0 || elapsed <= 0.0) return NAN;
  if (p->total_work > 0 && p->work_fresh > 0) {
    double rate = (double)p->work_fresh / elapsed;
    uint64_t left = p->total_work > p->work_done ? p->total_work - p->work_done : 0;
    return (double)left / rate;
  }
  double per = elapsed / (double)p->fresh;
  return per * (double)(p->total - p->done);
}

static void line(const fmr_progress *p, double now, char *buf, size_t n) {
  double elapsed = now - p->t_begin;
  double sps = elapsed > 0 ? (double)p->slices / elapsed : 0.0;
  double mbs = elapsed > 0 ? (double)p->work_fresh / elapsed / 1e6 : 0.0;
  char eta[32] = "?";
  double e = fmr_progress_eta(p, now);
  if (isfinite(e)) fmr_format_duration(e, eta, sizeof eta);
  if (p->done == p->total) snprintf(eta, sizeof eta, "0 s");
  snprintf(buf, n, "%zu/%zu volumes, %zu failed, %.1f slices/s, %.0f MB/s of k-space, %s to go",
           p->done, p->total, p->failed, sps, mbs, eta);
}

void fmr_progress_tick(fmr_progress *p, double now) {
  char buf[256];
  if (p->done == p->total && p->printed_done == p->done && p->last_print > p->t_begin) return;
  if (p->opts.live) {
    /* A terminal can take a redraw a few times a second without flicker or cost. */
    if (now - p->last_print < 0.25 && p->done != p->total) return;
    line(p, now, buf, sizeof buf);
    fprintf(p->opts.out, "\r\033[K%s", buf);
    fflush(p->opts.out);
    p->printed_live = 1;
    p->printed_done = p->done;
    p->last_print = now;
    return;
  }
  if (now - p->last_print < p->opts.every_seconds && p->done != p->total) return;
  if (p->done == 0) return;
  line(p, now, buf, sizeof buf);
  FMR_LOG(FMR_LOG_INFO, "progress: %s", buf);
  p->printed_done = p->done;
  p->last_print = now;
}

void fmr_progress_finish(fmr_progress *p) {
  if (p && p->opts.live && p->printed_live) {
    fputs("\r\033[K", p->opts.out);
    fflush(p->opts.out);
    p->printed_live = 0;
  }
}

void fmr_format_duration(double s, char *buf, size_t n) {
  if (!isfinite(s) || s < 0) s = 0;
  unsigned long t = (unsigned long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%luh %02lum %02lus", t / 3600, t / 60 % 60, t % 60);
  else if (t >= 60) snprintf(buf, n, "%lum %02lus", t / 60, t % 60);
  else snprintf(buf, n, "%.0f s", s);
}

void fmr_format_bytes(uint64_t b, char *buf, size_t n) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = (double)b;
  size_t u = 0;
  while (v >= 1000.0 && u + 1 < sizeof units / sizeof *units) {
    v /= 1000.0;
    u++;
  }
  if (u == 0) snprintf(buf, n, "%llu B", (unsigned long long)b);
  else snprintf(buf, n, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void fmr_summary_add(fmr_summary *s, const fmr_record *r, size_t slices) {
  fmr_status st = fmr_record_status(r);
  s->ok += st == FMR_STATUS_OK;
  s->failed += st == FMR_STATUS_FAILED;
  s->missing += st == FMR_STATUS_MISSING;
  if (st == FMR_STATUS_OK) s->slices += slices;
  for (size_t i = 0; i < fmr_record_noutputs(r); i++) {
    const fmr_output_file *o = fmr_record_output(r, i);
    size_t k = 0;
    while (k < s->nkinds && strcmp(s->kinds[k].kind, o->kind) != 0) k++;
    if (k == s->nkinds) {
      if (s->nkinds == FMR_SUMMARY_KINDS) continue;
      s->kinds[k].kind = o->kind;
      s->nkinds++;
    }
    s->kinds[k].files++;
    s->kinds[k].bytes += o->bytes;
  }
}

static const char *exit_meaning(int st) {
  switch (st) {
    case FMR_EXIT_OK: return "every volume ok";
    case FMR_EXIT_FAILED: return "some volumes failed or are missing; the others are complete";
    case FMR_EXIT_USAGE: return "configuration or start-up error";
    case FMR_EXIT_INTERRUPTED: return "interrupted: rerun the same command to resume";
    case FMR_EXIT_STORAGE: return "the output storage failed: fix it and rerun to resume";
    default: return "unknown";
  }
}

void fmr_summary_print(const fmr_summary *s, const char *warnings, FILE *f) {
  char wall[32], b[32];
  fmr_format_duration(s->wall_seconds, wall, sizeof wall);
  fprintf(f, "\nfastmri-regen run summary\n");
  fprintf(f, "  volumes      %zu planned: %zu ok, %zu failed, %zu missing", s->planned, s->ok,
          s->failed, s->missing);
  if (s->reused) fprintf(f, " (%zu reused from an earlier run)", s->reused);
  fprintf(f, "\n               %zu still to do, %zu file-list line%s skipped\n", s->remaining,
          s->skipped_lines, s->skipped_lines == 1 ? "" : "s");
  fprintf(f, "  slices       %zu\n", s->slices);
  for (size_t k = 0; k < s->nkinds; k++) {
    fmr_format_bytes(s->kinds[k].bytes, b, sizeof b);
    fprintf(f, "  %-12s %-10s %zu file%s, %s\n", k == 0 ? "outputs" : "", s->kinds[k].kind,
            s->kinds[k].files, s->kinds[k].files == 1 ? "" : "s", b);
  }
  fmr_format_bytes(s->kspace_bytes, b, sizeof b);
  fprintf(f, "  wall time    %s on %d rank%s\n", wall, s->ranks, s->ranks == 1 ? "" : "s");
  if (s->wall_seconds > 0)
    fprintf(f, "  throughput   %.1f slices/s, %.0f MB/s of k-space (%s read)\n",
            (double)s->slices / s->wall_seconds, (double)s->kspace_bytes / s->wall_seconds / 1e6,
            b);
  if (s->manifest) fprintf(f, "  manifest     %s\n", s->manifest);
  fprintf(f, "  exit status  %d: %s\n", s->exit_status, exit_meaning(s->exit_status));
  size_t shown = 0;
  for (const char *w = warnings; w && *w && shown < FMR_SUMMARY_WARNINGS; shown++) {
    size_t n = strcspn(w, "\n");
    fprintf(f, "  %-12s %.*s\n", shown == 0 ? "warnings" : "", (int)n, w);
    w += n + (w[n] == '\n');
    if (shown + 1 == FMR_SUMMARY_WARNINGS && *w)
      fprintf(f, "  %-12s ... more in the manifest (volumes[].warnings)\n", "");
  }
}
