/* Synthetic fastMRI-format volumes (SPEC 2.1) for the demo and the tests.
 *
 * Each slice is an anatomy-like phantom (ellipses, drawn in the displayed frame and stored upside
 * down as fastMRI stores its arrays, SPEC 4) placed in the central h x w region of the H x W image
 * grid, multiplied by smooth complex coil sensitivities, plus complex Gaussian noise over the whole
 * grid. K-space is fastMRI's centred orthonormal forward FFT of each coil image,
 * k = fftshift(fft2(ifftshift(x))) / sqrt(H*W), so the SPEC 3 reconstruction gives the images back.
 * reconstruction_rss is the root-sum-of-squares of the very coil images that were transformed
 * (noise included), cropped to (h, w) as fastMRI stored it.
 *
 * The HDF5 layout is what h5py wrote for the real files: kspace as a compound {r, i} of
 * little-endian float32, float32 reconstructions, the ISMRMRD XML as a scalar fixed-length byte
 * string, `mask` as h5py's enum bool, root attributes as variable-length UTF-8 strings and float64.
 * Object modification times are switched off so that the same inputs give byte-identical files.
 * No MPI here: the parallel HDF5 build is used with default (serial) property lists. */
#include "fmr/synth/synth.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <hdf5.h>

#include "fmr/recon/kspace.h"
#include "fmr/recon/recon.h"
#include "util/h5util.h"

#define SYNTH_PI 3.14159265358979323846

/* Cap on coils*H*W per slice (two buffers of 8-byte samples): 512 MiB each, far above the largest
 * real volume (~20 x 768 x 396), so an absurd request fails cleanly instead of thrashing. */
#define SYNTH_MAX_SLICE_SAMPLES ((size_t)1 << 26)
#define SYNTH_MAX_NOISE 10.0

/* Real fastMRI k-space and images are of order 1e-5 .. 1e-3 (scanner units); keeping that scale
 * lets float32 rounding and thresholds behave as they do on the real data. */
#define SYNTH_AMPLITUDE 5e-4

/* ---------------------------------------------------------------------------------------------
 * Random numbers. Hand-rolled (splitmix64 seeding xoshiro256**, Box-Muller normals) because
 * rand()/random() produce different sequences in different C libraries and keep hidden global
 * state; this stream is the same everywhere and per volume. The normals still go through libm's
 * log/sin/cos, which are deterministic for a given libm on a given kind of machine (SPEC 8). */
typedef struct synth_rng {
  uint64_t s[4];
} synth_rng;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b * 0xD1342543DE82EF95ull);
  return splitmix64(&x);
}

static void rng_seed(synth_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(synth_rng *r) {
  uint64_t *s = r->s;
  const uint64_t result = rotl64(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(synth_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static double rng_range(synth_rng *r, double lo, double hi) {
  return lo + (hi - lo) * rng_uniform(r);
}

static void rng_normal2(synth_rng *r, double *a, double *b) {
  double u1 = 1.0 - rng_uniform(r); /* (0, 1]: never log(0) */
  double u2 = rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1));
  double th = 2.0 * SYNTH_PI * u2;
  *a = rad * cos(th);
  *b = rad * sin(th);
}

/* FNV-1a: different names give unrelated volumes. */
static uint64_t hash_str(const char *s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= 0x100000001B3ull;
  }
  return h;
}

/* ---------------------------------------------------------------------------------------------
 * Acquisitions: header values and tissue contrast. Values follow real fastMRI headers. */
enum { SYNTH_PD, SYNTH_PDFS, SYNTH_FLAIR, SYNTH_T2, SYNTH_T1 };

typedef struct synth_acq {
  const char *acquisition, *protocol;
  int brain, contrast;
  double tr, te, ti, flip, echo_spacing; /* ms, ms, ms (NAN: no TI element), deg, ms */
} synth_acq;

static const synth_acq synth_acqs[] = {
    {"CORPD_FBK", "COR PD FBK", 0, SYNTH_PD, 2750, 27, NAN, 140, 13.4},
    {"CORPDFS_FBK", "COR PD FS FBK", 0, SYNTH_PDFS, 2870, 33, NAN, 140, 11.1},
    {"AXFLAIR", "AX FLAIR", 1, SYNTH_FLAIR, 9000, 86, 2500, 150, 9.6},
    {"AXT2", "AX T2", 1, SYNTH_T2, 6000, 113, NAN, 150, 9.4},
    {"AXT1", "AX T1", 1, SYNTH_T1, 500, 8.4, NAN, 90, 8.4},
    {"AXT1PRE", "AX T1 PRE", 1, SYNTH_T1, 500, 8.4, NAN, 90, 8.4},
    {"AXT1POST", "AX T1 POST", 1, SYNTH_T1, 500, 8.4, NAN, 90, 8.4},
};
#define SYNTH_NACQS (sizeof synth_acqs / sizeof synth_acqs[0])

static const synth_acq *acq_find(const char *acq) {
  for (size_t i = 0; i < SYNTH_NACQS; i++)
    if (strcmp(synth_acqs[i].acquisition, acq) == 0) return &synth_acqs[i];
  return NULL;
}

/* Only [A-Za-z0-9_]: the value goes into XML and an attribute unescaped. */
static int acq_name_valid(const char *acq) {
  size_t n = strlen(acq);
  if (n == 0 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = acq[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* Brain volume names carry the acquisition: file_brain_AXT1POST_201_6002717. */
static const synth_acq *acq_from_brain_name(const char *name) {
  static const char prefix[] = "file_brain_";
  if (strncmp(name, prefix, sizeof prefix - 1) != 0) return NULL;
  const char *p = name + sizeof prefix - 1;
  const char *end = strchr(p, '_');
  size_t n = end ? (size_t)(end - p) : strlen(p);
  char buf[64];
  if (n == 0 || n >= sizeof buf) return NULL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  const synth_acq *a = acq_find(buf);
  return a && a->brain ? a : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Phantom: a painter's list of ellipses in frame-normalised display coordinates (u down, v right,
 * both in [-1, 1] over the target frame); the last shape containing a point sets its value, and
 * nothing outside the first shape (the body outline) has signal. */
enum { SYNTH_MAX_SHAPES = 48 };

typedef struct synth_shape {
  double cu, cv, au, av, c, s, value;
  double r2; /* squared radius of a circle enclosing the ellipse, with margin: a cheap reject */
  int textured;
} synth_shape;

typedef struct synth_scene {
  size_t n;
  synth_shape shape[SYNTH_MAX_SHAPES];
} synth_scene;

/* Per-volume variation, drawn once from the volume's seed. */
typedef struct synth_look {
  int brain, contrast;
  double shift_u, shift_v, scale, rot_c, rot_s;
  double tex_f[3], tex_p[3];
  double side;   /* +1 / -1: side of the knee effusion and fibula */
  double eff_t;  /* knee: slice position of the effusion */
  size_t nlesions;
  double les_u[3], les_v[3], les_t[3], les_r[3], les_ext[3];
} synth_look;

typedef struct knee_tissue {
  double fat, muscle, marrow, cortex, cartilage, fluid, meniscus, edema;
} knee_tissue;

typedef struct brain_tissue {
  double scalp, skull, csf, gm, wm, ventricle, lesion;
} brain_tissue;

static const knee_tissue knee_pd = {0.85, 0.35, 0.72, 0.04, 0.62, 0.95, 0.03, 0.92};
static const knee_tissue knee_pdfs = {0.12, 0.30, 0.16, 0.03, 0.55, 1.00, 0.03, 0.85};
static const brain_tissue brain_flair = {0.55, 0.03, 0.06, 0.75, 0.55, 0.05, 1.00};
static const brain_tissue brain_t2 = {0.50, 0.03, 1.00, 0.60, 0.40, 1.00, 0.90};
static const brain_tissue brain_t1 = {0.80, 0.03, 0.10, 0.45, 0.65, 0.08, 0.30};

/* Capacity is static and the scenes below stay well within it; a shape past it is dropped. */
static void scene_add(synth_scene *sc, double cu, double cv, double au, double av, double rot,
                      double value, int textured) {
  if (sc->n >= SYNTH_MAX_SHAPES || !(au > 0.0) || !(av > 0.0)) return;
  synth_shape *s = &sc->shape[sc->n++];
  s->cu = cu;
  s->cv = cv;
  s->au = au;
  s->av = av;
  s->c = cos(rot);
  s->s = sin(rot);
  s->value = value;
  double r = (au > av ? au : av) * (1.0 + 1e-9);
  s->r2 = r * r;
  s->textured = textured;
}

static int shape_contains(const synth_shape *s, double u, double v) {
  double du = u - s->cu, dv = v - s->cv;
  if (du * du + dv * dv > s->r2) return 0;
  double a = (du * s->c + dv * s->s) / s->au;
  double b = (-du * s->s + dv * s->c) / s->av;
  return a * a + b * b <= 1.0;
}

/* Coronal proton-density knee; t in [-1, 1] runs from front to back of the joint. */
static void knee_scene(const synth_look *lk, double t, synth_scene *sc) {
  const knee_tissue *T = lk->contrast == SYNTH_PDFS ? &knee_pdfs : &knee_pd;
  double g = sqrt(1.0 - 0.55 * t * t);  /* bones narrow towards the front and back */
  double gs = sqrt(1.0 - 0.35 * t * t); /* so does the leg */
  sc->n = 0;
  scene_add(sc, 0.0, 0.0, 1.30, 0.82 * gs, 0.0, T->fat, 0); /* outline: subcutaneous fat */
  scene_add(sc, 0.0, 0.0, 1.30, 0.70 * gs, 0.0, T->muscle, 1);
  double de = (t - lk->eff_t) / 0.45;
  if (fabs(de) < 1.0) {
    double k = sqrt(1.0 - de * de);
    scene_add(sc, -0.08, lk->side * 0.47 * g, 0.16 * k, 0.07 * k, 0.3 * lk->side, T->fluid, 0);
  }

  /* Bones: centre u, v, semi-axes; cartilage caps first, then every cortex, then every marrow,
   * so overlapping parts of one bone merge without inner cortical lines. */
  typedef struct { double cu, cv, au, av, cart; } bone;
  bone b[7];
  size_t nb = 0;
  b[nb++] = (bone){-0.72, 0.0, 0.50, 0.23 * g, 0.0};        /* femoral shaft */
  b[nb++] = (bone){-0.36, 0.0, 0.20, 0.40 * g, 0.0};        /* femoral metaphysis */
  b[nb++] = (bone){-0.22, -0.20 * g, 0.18, 0.19 * g, 0.032}; /* medial condyle */
  b[nb++] = (bone){-0.22, 0.20 * g, 0.18, 0.19 * g, 0.032};  /* lateral condyle */
  b[nb++] = (bone){0.28, 0.0, 0.18, 0.44 * g, 0.030};       /* tibial plateau */
  b[nb++] = (bone){0.72, 0.0, 0.50, 0.25 * g, 0.0};         /* tibial shaft */
  if (t > -0.2) b[nb++] = (bone){0.52, lk->side * 0.50 * g, 0.10, 0.07, 0.0}; /* fibular head */
  for (size_t i = 0; i < nb; i++)
    if (b[i].cart > 0.0)
      scene_add(sc, b[i].cu, b[i].cv, b[i].au + b[i].cart, b[i].av + b[i].cart, 0.0, T->cartilage,
                0);
  for (int sgn = -1; sgn <= 1; sgn += 2)
    scene_add(sc, 0.03, sgn * 0.38 * g, 0.04, 0.10, 0.0, T->meniscus, 0);
  for (size_t i = 0; i < nb; i++)
    scene_add(sc, b[i].cu, b[i].cv, b[i].au, b[i].av, 0.0, T->cortex, 0);
  for (size_t i = 0; i < nb; i++)
    scene_add(sc, b[i].cu, b[i].cv, b[i].au - 0.025, b[i].av - 0.025, 0.0, T->marrow, 1);

  for (size_t i = 0; i < lk->nlesions; i++) { /* bone marrow oedema */
    double d = (t - lk->les_t[i]) / lk->les_ext[i];
    if (fabs(d) >= 1.0) continue;
    double k = sqrt(1.0 - d * d);
    scene_add(sc, lk->les_u[i], lk->les_v[i] * g, lk->les_r[i] * k, 1.3 * lk->les_r[i] * k, 0.0,
              T->edema, 0);
  }
}

/* Axial brain; t in [-1, 1] runs from bottom to top of the head. */
static void brain_scene(const synth_look *lk, double t, synth_scene *sc) {
  const brain_tissue *T = lk->contrast == SYNTH_T2   ? &brain_t2
                          : lk->contrast == SYNTH_T1 ? &brain_t1
                                                     : &brain_flair;
  double g = sqrt(1.0 - 0.5 * t * t);
  sc->n = 0;
  scene_add(sc, 0.0, 0.0, 0.90 * g, 0.74 * g, 0.0, T->scalp, 0); /* outline */
  scene_add(sc, 0.0, 0.0, 0.85 * g, 0.69 * g, 0.0, T->skull, 0);
  scene_add(sc, 0.0, 0.0, 0.80 * g, 0.64 * g, 0.0, T->csf, 0);
  scene_add(sc, 0.01, 0.0, 0.77 * g, 0.61 * g, 0.0, T->gm, 1);
  scene_add(sc, 0.02, 0.0, 0.64 * g, 0.48 * g, 0.0, T->wm, 1);
  scene_add(sc, -0.55 * g, 0.0, 0.24 * g, 0.012, 0.0, T->csf, 0); /* interhemispheric fissure */
  scene_add(sc, 0.58 * g, 0.0, 0.20 * g, 0.012, 0.0, T->csf, 0);
  if (fabs(t) < 0.6) {
    double k = sqrt(1.0 - (t / 0.6) * (t / 0.6));
    for (int sgn = -1; sgn <= 1; sgn += 2)
      scene_add(sc, -0.05, sgn * 0.09, 0.30 * k, 0.06 * k, sgn * 0.12, T->ventricle, 0);
  }
  for (size_t i = 0; i < lk->nlesions; i++) { /* white-matter lesions */
    double d = (t - lk->les_t[i]) / lk->les_ext[i];
    if (fabs(d) >= 1.0) continue;
    double k = sqrt(1.0 - d * d);
    scene_add(sc, lk->les_u[i] * g, lk->les_v[i] * g, lk->les_r[i] * k, 0.8 * lk->les_r[i] * k,
              0.0, T->lesion, 0);
  }
}

static void look_draw(const synth_acq *acq, synth_rng *r, synth_look *lk) {
  memset(lk, 0, sizeof *lk);
  lk->brain = acq->brain;
  lk->contrast = acq->contrast;
  lk->shift_u = rng_range(r, -0.03, 0.03);
  lk->shift_v = rng_range(r, -0.03, 0.03);
  lk->scale = rng_range(r, 0.93, 1.04);
  double rot = rng_range(r, -0.06, 0.06);
  lk->rot_c = cos(rot);
  lk->rot_s = sin(rot);
  for (int i = 0; i < 3; i++) {
    lk->tex_f[i] = rng_range(r, 8.0, 22.0);
    lk->tex_p[i] = rng_range(r, 0.0, 2.0 * SYNTH_PI);
  }
  lk->side = rng_uniform(r) < 0.5 ? -1.0 : 1.0;
  lk->eff_t = rng_range(r, -0.5, 0.5);
  lk->nlesions = 1 + (size_t)(rng_next(r) % 3);
  for (size_t i = 0; i < lk->nlesions; i++) {
    if (lk->brain) {
      lk->les_u[i] = rng_range(r, -0.45, 0.45);
      lk->les_v[i] = rng_range(r, 0.15, 0.40) * (rng_uniform(r) < 0.5 ? -1.0 : 1.0);
      lk->les_r[i] = rng_range(r, 0.025, 0.06);
    } else {
      lk->les_u[i] = rng_uniform(r) < 0.5 ? rng_range(r, -0.30, -0.15) : rng_range(r, 0.20, 0.32);
      lk->les_v[i] = rng_range(r, -0.30, 0.30);
      lk->les_r[i] = rng_range(r, 0.03, 0.07);
    }
    lk->les_t[i] = rng_range(r, -0.6, 0.6);
    lk->les_ext[i] = rng_range(r, 0.15, 0.35);
  }
}

static double look_texture(const synth_look *lk, double u, double v) {
  return 1.0 + 0.06 * sin(lk->tex_f[0] * u + lk->tex_p[0]) * sin(lk->tex_f[1] * v + lk->tex_p[1]) +
         0.04 * sin(lk->tex_f[2] * (u - v) + lk->tex_p[2]);
}

static double scene_value(const synth_scene *sc, const synth_look *lk, double ud, double vd) {
  double x = ud - lk->shift_u, y = vd - lk->shift_v;
  double u = (x * lk->rot_c + y * lk->rot_s) / lk->scale;
  double v = (-x * lk->rot_s + y * lk->rot_c) / lk->scale;
  if (sc->n == 0 || !shape_contains(&sc->shape[0], u, v)) return 0.0;
  const synth_shape *hit = &sc->shape[0];
  for (size_t i = 1; i < sc->n; i++)
    if (shape_contains(&sc->shape[i], u, v)) hit = &sc->shape[i];
  return hit->textured ? hit->value * look_texture(lk, u, v) : hit->value;
}

/* Frame pixel (fr, fc) of the stored (upside-down) array in display coordinates. */
static double frame_u(size_t fr, size_t h, double sub) {
  return ((double)(h - 1 - fr) + 0.5 + sub - 0.5 * (double)h) / (0.5 * (double)h);
}
static double frame_v(size_t fc, size_t w, double sub) {
  return ((double)fc + 0.5 + sub - 0.5 * (double)w) / (0.5 * (double)w);
}

/* One slice of phantom over the h x w frame, 2 x 2 supersampled for smooth edges. */
static void phantom_slice(const synth_look *lk, double t, size_t h, size_t w, synth_scene *sc,
                          double *p) {
  static const double sub[2] = {-0.25, 0.25};
  if (lk->brain)
    brain_scene(lk, t, sc);
  else
    knee_scene(lk, t, sc);
  for (size_t fr = 0; fr < h; fr++) {
    for (size_t fc = 0; fc < w; fc++) {
      double acc = 0.0;
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
          acc += scene_value(sc, lk, frame_u(fr, h, sub[a]), frame_v(fc, w, sub[b]));
      p[fr * w + fc] = 0.25 * acc;
    }
  }
}

/* Smooth complex sensitivities over the frame: a Gaussian blob per coil, centred just outside the
 * field of view around it, with a linear phase ramp. Single-coil: near-flat magnitude with a
 * phase ramp (an emulated single-coil image is a complex combination). */
static void coil_maps(synth_rng *r, size_t coils, int singlecoil, size_t h, size_t w, double *sre,
                      double *sim) {
  double theta0 = rng_range(r, 0.0, 2.0 * SYNTH_PI);
  for (size_t c = 0; c < coils; c++) {
    double th = theta0 + 2.0 * SYNTH_PI * ((double)c + rng_range(r, -0.15, 0.15)) / (double)coils;
    double cu = 1.1 * cos(th), cv = 1.1 * sin(th);
    double sigma = rng_range(r, 0.70, 0.85);
    double ph0 = rng_range(r, 0.0, 2.0 * SYNTH_PI);
    double ku = rng_range(r, -0.8, 0.8), kv = rng_range(r, -0.8, 0.8);
    for (size_t fr = 0; fr < h; fr++) {
      double u = frame_u(fr, h, 0.0);
      for (size_t fc = 0; fc < w; fc++) {
        double v = frame_v(fc, w, 0.0);
        double mag;
        if (singlecoil) {
          mag = 1.0 - 0.08 * (u * u + v * v);
        } else {
          double d2 = (u - cu) * (u - cu) + (v - cv) * (v - cv);
          mag = exp(-d2 / (2.0 * sigma * sigma));
        }
        double ph = ph0 + ku * u + kv * v;
        size_t i = c * h * w + fr * w + fc;
        sre[i] = mag * cos(ph);
        sim[i] = mag * sin(ph);
      }
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * ISMRMRD XML. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
}

static void sb_limits(sbuf *b, const char *tag, long lo, long hi, long centre) {
  sb_printf(b,
            "         <%s>\n            <minimum>%ld</minimum>\n            <maximum>%ld</maximum>\n"
            "            <center>%ld</center>\n         </%s>\n",
            tag, lo, hi, centre, tag);
}

static void sb_space(sbuf *b, const char *tag, size_t mx, size_t my, double fx, double fy,
                     double fz) {
  sb_printf(b,
            "      <%s>\n         <matrixSize>\n            <x>%zu</x>\n            <y>%zu</y>\n"
            "            <z>1</z>\n         </matrixSize>\n         <fieldOfView_mm>\n"
            "            <x>%.6g</x>\n            <y>%.6g</y>\n            <z>%.6g</z>\n"
            "         </fieldOfView_mm>\n      </%s>\n",
            tag, mx, my, fx, fy, fz, tag);
}

/* Identifiers that look like the scanner's, derived from the volume seed (never the clock). */
typedef struct synth_ids {
  char measurement_id[64];
  char frame_uid[80];
  char study_time[16];
  char patient_id[65];
} synth_ids;

static void ids_make(uint64_t vseed, int brain, synth_ids *ids) {
  uint64_t a = mix64(vseed, 0x1D5ull), b = mix64(vseed, 0x1D6ull), c = mix64(vseed, 0x1D7ull);
  unsigned serial = 40000u + (unsigned)(a % 20000u);
  unsigned long pid = 10000000ul + (unsigned long)((a >> 16) % 89000000u);
  unsigned long study = pid + 1ul + (unsigned long)((a >> 48) % 20u);
  unsigned meas = 1u + (unsigned)(b % 9999u);
  snprintf(ids->measurement_id, sizeof ids->measurement_id, "%u_%lu_%lu_%u", serial, pid, study,
           meas);
  unsigned year = 2016u + (unsigned)(b >> 20) % 4u, month = 1u + (unsigned)(b >> 24) % 12u;
  unsigned day = 1u + (unsigned)(b >> 28) % 28u, hour = 7u + (unsigned)(c % 12u);
  unsigned minute = (unsigned)(c >> 8) % 60u, second = (unsigned)(c >> 16) % 60u;
  unsigned milli = (unsigned)(c >> 24) % 1000u;
  snprintf(ids->frame_uid, sizeof ids->frame_uid,
           "1.3.12.2.1107.5.2.%u.%u.1.%04u%02u%02u%02u%02u%02u%03u.0.0.0", brain ? 43u : 19u,
           serial, year, month, day, hour, minute, second, milli);
  snprintf(ids->study_time, sizeof ids->study_time, "%02u:%02u:%02u", hour, minute, second);
  uint64_t x = mix64(vseed, 0x9A7ull);
  for (int i = 0; i < 4; i++)
    snprintf(ids->patient_id + 16 * i, 17, "%016llx", (unsigned long long)splitmix64(&x));
}

/* `acq` gives the parameters; `acquisition` is the attribute, whose protocol name is the table's
 * when it is `acq` itself and the acquisition string otherwise (an unknown or other-anatomy one). */
static char *header_xml(const fmr_synth_opts *o, const synth_acq *acq, const char *acquisition,
                        const synth_ids *ids, size_t *len) {
  int brain = acq->brain;
  /* Pixel spacing and slice thickness as in the real protocols (knee 140 mm / 320, 3 mm; brain
   * 220 mm / 320, 5 mm). The encoded space keeps the same spacing, so its FOV scales with H and W;
   * its z is 1.5 x the slice thickness, as the real headers have it. */
  double px = brain ? 220.0 / 320.0 : 140.0 / 320.0, thick = brain ? 5.0 : 3.0;
  sbuf b = {0};
  sb_printf(&b,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ismrmrdHeader "
            "xmlns=\"http://www.ismrm.org/ISMRMRD\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "xsi:schemaLocation=\"http://www.ismrm.org/ISMRMRD ismrmrd.xsd\">\n");
  sb_printf(&b, "   <studyInformation>\n      <studyTime>%s</studyTime>\n   </studyInformation>\n",
            ids->study_time);
  sb_printf(&b,
            "   <measurementInformation>\n      <measurementID>%s</measurementID>\n"
            "      <patientPosition>%s</patientPosition>\n      <protocolName>%s</protocolName>\n"
            "      <frameOfReferenceUID>%s</frameOfReferenceUID>\n   </measurementInformation>\n",
            ids->measurement_id, brain ? "HFS" : "FFS",
            acq_find(acquisition) == acq ? acq->protocol : acquisition, ids->frame_uid);
  sb_printf(&b,
            "   <acquisitionSystemInformation>\n      <systemVendor>SIEMENS</systemVendor>\n"
            "      <systemModel>%s</systemModel>\n"
            "      <systemFieldStrength_T>2.89362</systemFieldStrength_T>\n"
            "      <relativeReceiverNoiseBandwidth>0.793</relativeReceiverNoiseBandwidth>\n"
            "      <receiverChannels>%zu</receiverChannels>\n",
            brain ? "Prisma_fit" : "Skyra", o->coils);
  for (size_t c = 0; c < o->coils; c++) {
    if (brain)
      sb_printf(&b,
                "      <coilLabel>\n         <coilNumber>%zu</coilNumber>\n"
                "         <coilName>HeadNeck_20:1:H%zu%zu</coilName>\n      </coilLabel>\n",
                c + 1, 1 + c / 4 % 4, 1 + c % 4);
    else
      sb_printf(&b,
                "      <coilLabel>\n         <coilNumber>%zu</coilNumber>\n"
                "         <coilName>15K:1:%02zu</coilName>\n      </coilLabel>\n",
                c + 1, c + 1);
  }
  sb_printf(&b,
            "      <institutionName>NYU</institutionName>\n   </acquisitionSystemInformation>\n"
            "   <experimentalConditions>\n"
            "      <H1resonanceFrequency_Hz>123251815</H1resonanceFrequency_Hz>\n"
            "   </experimentalConditions>\n   <encoding>\n");
  sb_space(&b, "encodedSpace", o->H, o->W, px * (double)o->H, px * (double)o->W, 1.5 * thick);
  sb_space(&b, "reconSpace", o->h, o->w, px * (double)o->h, px * (double)o->w, thick);
  sb_printf(&b, "      <trajectory>cartesian</trajectory>\n      <encodingLimits>\n");
  sb_limits(&b, "kspace_encoding_step_1", 0, (long)o->W - 1, (long)(o->W / 2));
  sb_limits(&b, "kspace_encoding_step_2", 0, 0, 0);
  sb_limits(&b, "average", 0, 0, 0);
  sb_limits(&b, "slice", 0, (long)o->slices - 1, 0);
  sb_limits(&b, "contrast", 0, 0, 0);
  sb_limits(&b, "phase", 0, 0, 0);
  sb_limits(&b, "repetition", 0, 0, 0);
  sb_limits(&b, "set", 0, 0, 0);
  sb_limits(&b, "segment", 0, 0, 0);
  sb_printf(&b,
            "      </encodingLimits>\n      <parallelImaging>\n         <accelerationFactor>\n"
            "            <kspace_encoding_step_1>1</kspace_encoding_step_1>\n"
            "            <kspace_encoding_step_2>1</kspace_encoding_step_2>\n"
            "         </accelerationFactor>\n         <calibrationMode>other</calibrationMode>\n"
            "      </parallelImaging>\n   </encoding>\n");
  sb_printf(&b, "   <sequenceParameters>\n      <TR>%.6g</TR>\n      <TE>%.6g</TE>\n", acq->tr,
            acq->te);
  if (!isnan(acq->ti)) sb_printf(&b, "      <TI>%.6g</TI>\n", acq->ti);
  sb_printf(&b,
            "      <flipAngle_deg>%.6g</flipAngle_deg>\n"
            "      <sequence_type>TurboSpinEcho</sequence_type>\n"
            "      <echo_spacing>%.6g</echo_spacing>\n   </sequenceParameters>\n"
            "</ismrmrdHeader>",
            acq->flip, acq->echo_spacing);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}

/* ---------------------------------------------------------------------------------------------
 * HDF5 helpers (the generic ones are util/h5util's): each returns 0 or -1, releases what it opened
 * and keeps the failure's error stack for fmr__h5_fail. While a volume is written HDF5's error
 * printing is off (and the caller's handler restored afterwards). */

/* Like h5py's `f[name] = b"..."`: scalar, fixed length, null-padded ASCII. */
static int h5_bytes_dataset(hid_t file, const char *name, const char *data, size_t len,
                            hid_t dcpl) {
  int rc = -1;
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type >= 0 && H5Tset_size(type, len) >= 0 && H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0)
    rc = fmr__h5_dataset_write(file, name, type, 0, NULL, dcpl, data);
  hid_t st = fmr__h5_stack_save(rc);
  if (type >= 0) H5Tclose(type);
  fmr__h5_stack_restore(st);
  return rc;
}

/* Like h5py's numpy bool: an enum of int8 with FALSE = 0 and TRUE = 1. */
static int h5_bool_dataset(hid_t file, const char *name, const signed char *data, size_t n,
                           hid_t dcpl) {
  int rc = -1;
  signed char f = 0, t = 1;
  hsize_t dims[1] = {n};
  hid_t type = H5Tenum_create(H5T_NATIVE_SCHAR);
  if (type >= 0 && H5Tenum_insert(type, "FALSE", &f) >= 0 && H5Tenum_insert(type, "TRUE", &t) >= 0)
    rc = fmr__h5_dataset_write(file, name, type, 1, dims, dcpl, data);
  hid_t st = fmr__h5_stack_save(rc);
  if (type >= 0) H5Tclose(type);
  fmr__h5_stack_restore(st);
  return rc;
}

/* Dataset creation properties: no modification times (byte-identical reruns), no fill pass over
 * the data we are about to write anyway, and optionally one chunk per slice, shuffled and
 * deflated. */
static hid_t h5_dcpl(int chunked, int rank, const hsize_t *chunk) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dcpl < 0) return dcpl;
  if (H5Pset_obj_track_times(dcpl, 0) < 0 || H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0)
    goto fail;
  if (chunked && rank > 0) {
    if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
        H5Pset_deflate(dcpl, 1) < 0)
      goto fail;
  }
  return dcpl;
fail:;
  hid_t st = fmr__h5_stack_save(-1);
  H5Pclose(dcpl);
  fmr__h5_stack_restore(st);
  return H5I_INVALID_HID;
}

/* Write `buf` as slice `s` (the first dimension) of a dataset of rank `rank`. */
static int h5_write_slice(hid_t dset, hid_t mtype, int rank, const hsize_t *dims, size_t s,
                          const void *buf) {
  int rc = -1;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  hsize_t start[4] = {s, 0, 0, 0}, count[4];
  for (int i = 0; i < rank; i++) count[i] = i == 0 ? 1 : dims[i];
  if ((fspace = H5Dget_space(dset)) < 0) goto done;
  if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
  if ((mspace = H5Screate_simple(rank - 1, count + 1, NULL)) < 0) goto done;
  if (H5Dwrite(dset, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) goto done;
  rc = 0;
done:;
  hid_t st = fmr__h5_stack_save(rc);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  fmr__h5_stack_restore(st);
  return rc;
}

static hid_t h5_complex_type(hid_t member) {
  hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(float));
  if (t < 0) return t;
  if (H5Tinsert(t, "r", 0, member) < 0 || H5Tinsert(t, "i", sizeof(float), member) < 0) {
    hid_t st = fmr__h5_stack_save(-1);
    H5Tclose(t);
    fmr__h5_stack_restore(st);
    return H5I_INVALID_HID;
  }
  return t;
}

/* HDF5 1.10 cannot recover from a failed flush when a file is closed: the file ID is left half
 * torn down and the library crashes at exit (HDFFV-11052, fixed in 1.14). So a full disk or a
 * file-size limit is caught before writing, against an upper bound of the file size. Best effort:
 * another writer may still take the space in between. */
static int space_check(const char *path, uint64_t need, fmr_err *err) {
  size_t n = strlen(path);
  char *dir = malloc(n + 2);
  if (!dir) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  const char *slash = strrchr(path, '/');
  if (!slash) {
    strcpy(dir, ".");
  } else {
    size_t d = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, d);
    dir[d] = '\0';
  }
  struct statvfs vfs;
  int have = statvfs(dir, &vfs) == 0; /* no answer: let HDF5 report the real problem */
  free(dir);
  uint64_t avail = have ? (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize : UINT64_MAX;
  if (need > avail)
    return fmr_err_set(err, FMR_EIO, "%s: needs about %llu bytes, only %llu free", path,
                       (unsigned long long)need, (unsigned long long)avail);
  struct rlimit rl;
  if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      need > (uint64_t)rl.rlim_cur)
    return fmr_err_set(err, FMR_EIO, "%s: needs about %llu bytes, over the file size limit %llu",
                       path, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Public API. */
void fmr_synth_defaults(const char *anatomy, fmr_synth_opts *o) {
  int brain = anatomy && strcmp(anatomy, "brain") == 0;
  memset(o, 0, sizeof *o);
  o->anatomy = brain ? "brain" : (anatomy && strcmp(anatomy, "knee") != 0 ? anatomy : "knee");
  o->slices = 8;
  o->coils = 4;
  o->singlecoil = 0;
  o->H = 640;
  o->W = brain ? 320 : 368;
  o->h = 320;
  o->w = 320;
  o->undersampled = 0;
  o->chunked = 0;
  o->noise = 0.01;
  o->seed = 1;
  o->acquisition = NULL;
}

/* `path` names the file (or "synth") in messages. */
static int opts_check(const char *path, const fmr_synth_opts *o, fmr_err *err) {
  if (!o->anatomy || (strcmp(o->anatomy, "knee") != 0 && strcmp(o->anatomy, "brain") != 0))
    return fmr_err_set(err, FMR_EINVAL, "%s: anatomy must be knee or brain, not '%s'", path,
                       o->anatomy ? o->anatomy : "(null)");
  if (o->slices < 1 || o->slices > FMR_KSPACE_MAX_SLICES)
    return fmr_err_set(err, FMR_ERANGE, "%s: slices %zu not in 1..%d", path, o->slices,
                       FMR_KSPACE_MAX_SLICES);
  if (o->coils < 1 || o->coils > FMR_KSPACE_MAX_COILS)
    return fmr_err_set(err, FMR_ERANGE, "%s: coils %zu not in 1..%d", path, o->coils,
                       FMR_KSPACE_MAX_COILS);
  if (o->singlecoil && o->coils != 1)
    return fmr_err_set(err, FMR_EINVAL, "%s: single-coil volume with %zu coils", path, o->coils);
  if (o->H < 1 || o->W < 1 || o->H > FMR_KSPACE_MAX_DIM || o->W > FMR_KSPACE_MAX_DIM)
    return fmr_err_set(err, FMR_ERANGE, "%s: k-space size %zux%zu not in 1..%d", path, o->H, o->W,
                       FMR_KSPACE_MAX_DIM);
  if (o->h < 1 || o->w < 1 || o->h > o->H || o->w > o->W)
    return fmr_err_set(err, FMR_ERANGE, "%s: frame %zux%zu must be at least 1x1 and fit in %zux%zu",
                       path, o->h, o->w, o->H, o->W);
  if (o->coils * o->H * o->W > SYNTH_MAX_SLICE_SAMPLES)
    return fmr_err_set(err, FMR_ERANGE, "%s: %zu coils x %zu x %zu samples per slice is over %zu",
                       path, o->coils, o->H, o->W, SYNTH_MAX_SLICE_SAMPLES);
  if (!(o->noise >= 0.0 && o->noise <= SYNTH_MAX_NOISE))
    return fmr_err_set(err, FMR_ERANGE, "%s: noise %g not in 0..%g", path, o->noise,
                       SYNTH_MAX_NOISE);
  if (o->acquisition && !acq_name_valid(o->acquisition))
    return fmr_err_set(err, FMR_EINVAL,
                       "%s: acquisition '%s' must be 1-63 letters, digits or underscores", path,
                       o->acquisition);
  return 0;
}

int fmr_synth_check(const fmr_synth_opts *o, fmr_err *err) {
  if (!o) return fmr_err_set(err, FMR_EINVAL, "synth: NULL options");
  return opts_check("synth", o, err);
}

int fmr_synth_volume(const char *path, const char *name, const fmr_synth_opts *o, fmr_err *err) {
  if (!path || !o) return fmr_err_set(err, FMR_EINVAL, "synth: NULL path or options");
  int rc = opts_check(path, o, err);
  if (rc) return rc;
  if (!name || !*name) return fmr_err_set(err, FMR_EINVAL, "%s: empty volume name", path);

  const int brain = strcmp(o->anatomy, "brain") == 0;
  const size_t S = o->slices, C = o->coils, H = o->H, W = o->W, h = o->h, w = o->w;
  const size_t HW = H * W, r0 = (H - h) / 2, c0 = (W - w) / 2;
  const int has_recon = !o->undersampled;
  const int krank = o->singlecoil ? 3 : 4;

  /* Acquisition: explicit, else from a brain name, else the anatomy's usual one. */
  const char *acquisition = o->acquisition;
  const synth_acq *acq = acquisition ? acq_find(acquisition) : NULL;
  if (!acquisition) {
    acq = brain ? acq_from_brain_name(name) : NULL;
    if (!acq) acq = acq_find(brain ? "AXFLAIR" : "CORPD_FBK");
    acquisition = acq->acquisition;
  } else if (!acq || acq->brain != brain) {
    acq = acq_find(brain ? "AXFLAIR" : "CORPD_FBK"); /* unknown name: the anatomy's parameters */
  }

  const uint64_t vseed = mix64(o->seed, hash_str(name) ^ (brain ? 0xB5A1ull : 0x6EE5ull));
  synth_rng rng;
  rng_seed(&rng, vseed);
  synth_look look;
  look_draw(acq, &rng, &look);
  synth_ids ids;
  ids_make(vseed, brain, &ids);

  hid_t fcpl = H5I_INVALID_HID, file = H5I_INVALID_HID, ctype_file = H5I_INVALID_HID;
  hid_t ctype_mem = H5I_INVALID_HID, dcpl_plain = H5I_INVALID_HID, dcpl_k = H5I_INVALID_HID;
  hid_t dcpl_r = H5I_INVALID_HID, dset_k = H5I_INVALID_HID, dset_rss = H5I_INVALID_HID;
  hid_t dset_esc = H5I_INVALID_HID;
  fmr_recon *fwd = NULL; /* the centred forward transform; its buffer holds one slice */
  float (*img)[2] = NULL; /* that buffer as (re, im) pairs: image in, k-space out */
  double *sre = NULL, *sim = NULL, *ph = NULL;
  float *rss = NULL;
  signed char *mask = NULL;
  synth_scene *scene = NULL;
  char *xml = NULL;
  int created = 0, quiet_on = 0;
  fmr__h5_quiet quiet;

  /* Everything that can fail before the file exists goes first. */
  size_t xml_len = 0;
  if (!(xml = header_xml(o, acq, acquisition, &ids, &xml_len)) ||
      !(sre = malloc(sizeof(double) * C * h * w)) || !(sim = malloc(sizeof(double) * C * h * w)) ||
      !(ph = malloc(sizeof(double) * h * w)) || !(rss = malloc(sizeof(float) * h * w)) ||
      !(mask = malloc(W)) || !(scene = malloc(sizeof *scene))) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for a %zu x %zu x %zu slice", path, C, H,
                     W);
    goto done;
  }
  /* One plan for all coils, made once per file and reused for every slice. */
  if ((rc = fmr_recon_forward_new(C, H, W, &fwd, err)) != 0) {
    fmr_err_prefix(err, "%s: ", path);
    goto done;
  }
  /* float complex and float[2] share representation and alignment (C11 6.2.5). */
  img = (float (*)[2])fmr_recon_input(fwd);
  coil_maps(&rng, C, o->singlecoil, h, w, sre, sim);

  /* fastMRI's 4x equispaced test mask: the central 8 % of lines plus every 4th line. */
  size_t num_low = (size_t)floor(0.08 * (double)W + 0.5);
  if (num_low < 1) num_low = 1;
  {
    size_t pad = (W - num_low + 1) / 2;
    for (size_t j = 0; j < W; j++)
      mask[j] = (signed char)(!o->undersampled || j % 4 == 0 || (j >= pad && j < pad + num_low));
  }

  {
    uint64_t need = (uint64_t)S * C * HW * 8u + (uint64_t)W + xml_len + (1u << 20);
    if (has_recon) need += (uint64_t)S * h * w * 4u * (o->singlecoil ? 2u : 1u);
    if (o->chunked) need += need / 50u + (uint64_t)S * 8192u; /* noise barely compresses */
    if ((rc = space_check(path, need, err)) != 0) goto done;
  }
  fmr__h5_quiet_begin(&quiet);
  quiet_on = 1;
  /* The root group is created with the file: its times are switched off here. */
  if ((fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 || H5Pset_obj_track_times(fcpl, 0) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot set file creation properties");
    goto done;
  }
  if ((file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT)) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot create the file");
    goto done;
  }
  created = 1;

  hsize_t kdims[4] = {0, 0, 0, 0}, rdims[3] = {S, h, w};
  if (o->singlecoil) {
    kdims[0] = S, kdims[1] = H, kdims[2] = W;
  } else {
    kdims[0] = S, kdims[1] = C, kdims[2] = H, kdims[3] = W;
  }
  hsize_t kchunk[4] = {1, kdims[1], kdims[2], krank == 4 ? kdims[3] : 0};
  hsize_t rchunk[3] = {1, h, w};
  if ((ctype_file = h5_complex_type(H5T_IEEE_F32LE)) < 0 ||
      (ctype_mem = h5_complex_type(H5T_NATIVE_FLOAT)) < 0 ||
      (dcpl_plain = h5_dcpl(0, 0, NULL)) < 0 || (dcpl_k = h5_dcpl(o->chunked, krank, kchunk)) < 0 ||
      (dcpl_r = h5_dcpl(o->chunked, 3, rchunk)) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot set up types and dataset properties");
    goto done;
  }
  if (o->chunked && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
    rc = fmr_err_set(err, FMR_EHDF5, "%s: this HDF5 library has no gzip filter", path);
    goto done;
  }
  if (h5_bytes_dataset(file, "ismrmrd_header", xml, xml_len, dcpl_plain) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot write ismrmrd_header");
    goto done;
  }
  if ((dset_k = fmr__h5_dataset_create(file, "kspace", ctype_file, krank, kdims, dcpl_k)) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot create kspace");
    goto done;
  }
  if (has_recon &&
      (dset_rss = fmr__h5_dataset_create(file, "reconstruction_rss", H5T_IEEE_F32LE, 3, rdims, dcpl_r)) <
          0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot create reconstruction_rss");
    goto done;
  }
  /* Single-coil: the emulated single-coil ground truth is stored as reconstruction_esc; here it is
   * the same image as reconstruction_rss (|x| of the one coil). */
  if (has_recon && o->singlecoil &&
      (dset_esc = fmr__h5_dataset_create(file, "reconstruction_esc", H5T_IEEE_F32LE, 3, rdims, dcpl_r)) <
          0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot create reconstruction_esc");
    goto done;
  }
  if (o->undersampled && h5_bool_dataset(file, "mask", mask, W, dcpl_plain) < 0) {
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot write mask");
    goto done;
  }

  const double sigma = o->noise * SYNTH_AMPLITUDE / sqrt(2.0); /* E|n|^2 = (noise * amplitude)^2 */
  double vmax = 0.0, sumsq = 0.0;
  for (size_t s = 0; s < S; s++) {
    double t = S > 1 ? 2.0 * (double)s / (double)(S - 1) - 1.0 : 0.0;
    phantom_slice(&look, t, h, w, scene, ph);
    /* Noise seeded per slice, so a slice's content does not depend on the ones before it. */
    synth_rng nrng;
    rng_seed(&nrng, mix64(vseed, 0x4E015Eull + (uint64_t)s));
    for (size_t c = 0; c < C; c++) {
      for (size_t i = 0; i < H; i++) {
        int in_rows = i >= r0 && i < r0 + h;
        for (size_t j = 0; j < W; j++) {
          double re = 0.0, im = 0.0;
          if (in_rows && j >= c0 && j < c0 + w) {
            size_t f = (i - r0) * w + (j - c0);
            double a = SYNTH_AMPLITUDE * ph[f];
            re = a * sre[c * h * w + f];
            im = a * sim[c * h * w + f];
          }
          if (sigma > 0.0) {
            double g1, g2;
            rng_normal2(&nrng, &g1, &g2);
            re += sigma * g1;
            im += sigma * g2;
          }
          img[c * HW + i * W + j][0] = (float)re;
          img[c * HW + i * W + j][1] = (float)im;
        }
      }
    }
    if (has_recon) {
      /* Ground truth from the float32 coil images that are transformed below. */
      for (size_t fr = 0; fr < h; fr++) {
        for (size_t fc = 0; fc < w; fc++) {
          double acc = 0.0;
          for (size_t c = 0; c < C; c++) {
            const float *z = img[c * HW + (fr + r0) * W + (fc + c0)];
            acc += (double)z[0] * (double)z[0] + (double)z[1] * (double)z[1];
          }
          float v = (float)sqrt(acc);
          rss[fr * w + fc] = v;
          if ((double)v > vmax) vmax = (double)v;
          sumsq += (double)v * (double)v;
        }
      }
      if (h5_write_slice(dset_rss, H5T_NATIVE_FLOAT, 3, rdims, s, rss) < 0 ||
          (dset_esc >= 0 && h5_write_slice(dset_esc, H5T_NATIVE_FLOAT, 3, rdims, s, rss) < 0)) {
        rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot write the reconstruction of slice %zu", s);
        goto done;
      }
    }
    /* k = fftshift(fft2(ifftshift(x))) / sqrt(H*W), in place; then the sampling mask. */
    fmr_recon_forward(fwd);
    if (o->undersampled)
      for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < H; i++)
          for (size_t j = 0; j < W; j++)
            if (!mask[j]) img[c * HW + i * W + j][0] = img[c * HW + i * W + j][1] = 0.0f;
    if (h5_write_slice(dset_k, ctype_mem, krank, kdims, s, img) < 0) {
      rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot write k-space slice %zu", s);
      goto done;
    }
  }

  /* Root attributes as fastMRI has them; test files (undersampled) carry the mask parameters and
   * no max/norm, since they have no reconstruction. */
  {
    double norm = sqrt(sumsq);
    int64_t accel = 4, nlow = (int64_t)num_low;
    hid_t root = file;
    if (fmr__h5_attr_str(root, "acquisition", acquisition) < 0 ||
        (has_recon && fmr__h5_attr_num(root, "max", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &vmax) < 0) ||
        (has_recon && fmr__h5_attr_num(root, "norm", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &norm) < 0) ||
        fmr__h5_attr_str(root, "patient_id", ids.patient_id) < 0 ||
        (o->undersampled &&
         (fmr__h5_attr_num(root, "acceleration", H5T_STD_I64LE, H5T_NATIVE_INT64, &accel) < 0 ||
          fmr__h5_attr_num(root, "num_low_frequency", H5T_STD_I64LE, H5T_NATIVE_INT64, &nlow) < 0))) {
      rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot write the root attributes");
      goto done;
    }
  }
  rc = 0;

done:
  if (dset_esc >= 0 && H5Dclose(dset_esc) < 0 && rc == 0)
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot close reconstruction_esc");
  if (dset_rss >= 0 && H5Dclose(dset_rss) < 0 && rc == 0)
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot close reconstruction_rss");
  if (dset_k >= 0 && H5Dclose(dset_k) < 0 && rc == 0)
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot close kspace");
  if (dcpl_r >= 0) H5Pclose(dcpl_r);
  if (dcpl_k >= 0) H5Pclose(dcpl_k);
  if (dcpl_plain >= 0) H5Pclose(dcpl_plain);
  if (ctype_mem >= 0) H5Tclose(ctype_mem);
  if (ctype_file >= 0) H5Tclose(ctype_file);
  if (file >= 0 && H5Fclose(file) < 0 && rc == 0)
    rc = fmr__h5_fail(err, FMR_EHDF5, path, "cannot flush and close the file");
  if (fcpl >= 0) H5Pclose(fcpl);
  if (quiet_on) fmr__h5_quiet_end(&quiet);
  if (rc != 0 && created) remove(path); /* never leave a half-written volume behind */
  fmr_recon_free(&fwd);
  free(scene);
  free(mask);
  free(rss);
  free(ph);
  free(sim);
  free(sre);
  free(xml);
  return rc;
}
