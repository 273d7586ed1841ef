/* Deterministic DICOM UIDs and SHA-256 (SPEC 5.2, 7).
 *
 * A UID is <root>.<n> where n is the leading bits of SHA-256 over a namespaced name, written in
 * decimal. Under "2.25" (ISO/IEC 9834-8: an integer of up to 128 bits) the whole first 128 bits are
 * used; a longer organisational root leaves fewer digits within the 64-character limit, so fewer
 * (leading) bits are kept, never fewer than MIN_BITS. */
#include "fmr/dicom/uid.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UID_LEN_MAX 64
/* Below this a collision between the ~10^7 UIDs of the dataset stops being negligible. */
#define MIN_BITS 64
#define FILE_CHUNK (1u << 20)

typedef unsigned __int128 u128;

/* A UID root: dot-separated numeric components, each "0" or without a leading zero, none empty. */
static int root_valid(const char *root) {
  size_t len = strlen(root);
  if (len == 0 || len > UID_LEN_MAX) return 0;
  const char *c = root;
  for (;;) {
    const char *start = c;
    while (*c >= '0' && *c <= '9') c++;
    size_t comp = (size_t)(c - start);
    if (comp == 0) return 0;
    if (comp > 1 && start[0] == '0') return 0;
    if (*c == '\0') return 1;
    if (*c != '.') return 0;
    c++;
  }
}

/* Decimal digits of 2^bits - 1, the longest number `bits` bits can hold. */
static size_t max_digits(unsigned bits) {
  u128 v = bits >= 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
  size_t d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

/* Decimal of v, no leading zeros ("0" for zero). out must hold 40 bytes. */
static void u128_decimal(u128 v, char out[40]) {
  char rev[40];
  size_t n = 0;
  do {
    rev[n++] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
  for (size_t k = 0; k < n; k++) out[k] = rev[n - 1 - k];
  out[n] = '\0';
}

static int sha256(const void *data, size_t len, unsigned char md[32]) {
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) return -1;
  return 0;
}

static void hex(const unsigned char md[32], char out[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int k = 0; k < 32; k++) {
    out[2 * k] = digits[md[k] >> 4];
    out[2 * k + 1] = digits[md[k] & 15];
  }
  out[64] = '\0';
}

int fmr_uid_make(const char *root, const char *ns, const char *volume, const char *role,
                 long index, char out[FMR_UID_MAX], fmr_err *err) {
  int rc = 0;
  char *name = NULL;
  if (!out) return fmr_err_set(err, FMR_EINVAL, "fmr_uid_make: no output buffer");
  out[0] = '\0';
  if (!root || !*root) root = "2.25";
  if (!ns || !volume || !role) {
    rc = fmr_err_set(err, FMR_EINVAL, "UID for %s: missing namespace, volume or role",
                     volume ? volume : "(null)");
    goto done;
  }
  if (!root_valid(root)) {
    rc = fmr_err_set(err, FMR_EINVAL,
                     "UID root \"%s\" is not a valid UID prefix (digits and dots, no empty "
                     "component, no leading zero)",
                     root);
    goto done;
  }

  /* Keep as many leading hash bits as the digits left after "<root>." allow. */
  size_t rootlen = strlen(root);
  size_t room = rootlen + 1 < UID_LEN_MAX ? UID_LEN_MAX - 1 - rootlen : 0;
  unsigned bits = 128;
  while (bits >= MIN_BITS && max_digits(bits) > room) bits--;
  if (bits < MIN_BITS) {
    rc = fmr_err_set(err, FMR_EINVAL,
                     "UID root \"%s\" (%zu characters) leaves room for fewer than %d bits in a "
                     "64-character UID",
                     root, rootlen, MIN_BITS);
    goto done;
  }

  int need = index >= 0 ? snprintf(NULL, 0, "%s/%s/%s/%ld", ns, volume, role, index)
                        : snprintf(NULL, 0, "%s/%s/%s", ns, volume, role);
  if (need < 0) {
    rc = fmr_err_set(err, FMR_EINVAL, "UID for %s: cannot format the name", volume);
    goto done;
  }
  name = malloc((size_t)need + 1);
  if (!name) {
    rc = fmr_err_set(err, FMR_ENOMEM, "UID for %s: out of memory", volume);
    goto done;
  }
  if (index >= 0)
    snprintf(name, (size_t)need + 1, "%s/%s/%s/%ld", ns, volume, role, index);
  else
    snprintf(name, (size_t)need + 1, "%s/%s/%s", ns, volume, role);

  unsigned char md[32];
  if (sha256(name, (size_t)need, md)) {
    rc = fmr_err_set(err, FMR_EINVAL, "UID for %s: SHA-256 failed in libcrypto", volume);
    goto done;
  }
  u128 v = 0;
  for (int k = 0; k < 16; k++) v = (v << 8) | md[k]; /* big-endian, like int.from_bytes(.., "big") */
  if (bits < 128) v >>= 128 - bits;
  char digits[40];
  u128_decimal(v, digits);
  snprintf(out, FMR_UID_MAX, "%s.%s", root, digits);

done:
  free(name);
  return rc;
}

void fmr_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  /* EVP_Digest on an in-memory buffer only fails when libcrypto itself is broken (no SHA-256
   * provider); an empty string then cannot match any recorded digest. */
  if (sha256(data ? data : "", data ? len : 0, md)) {
    out[0] = '\0';
    return;
  }
  hex(md, out);
}

int fmr_sha256_file(const char *path, char out[65], uint64_t *bytes, fmr_err *err) {
  int rc = 0;
  FILE *f = NULL;
  unsigned char *buf = NULL;
  EVP_MD_CTX *ctx = NULL;
  uint64_t total = 0;
  if (out) out[0] = '\0';
  if (!path || !out) return fmr_err_set(err, FMR_EINVAL, "fmr_sha256_file: missing argument");

  f = fopen(path, "rb");
  if (!f) {
    rc = fmr_err_set(err, errno == ENOENT ? FMR_ENOENT : FMR_EIO, "%s: cannot open: %s", path,
                     strerror(errno));
    goto done;
  }
  buf = malloc(FILE_CHUNK);
  ctx = EVP_MD_CTX_new();
  if (!buf || !ctx) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory for hashing", path);
    goto done;
  }
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    rc = fmr_err_set(err, FMR_EIO, "%s: SHA-256 initialisation failed in libcrypto", path);
    goto done;
  }
  for (;;) {
    size_t got = fread(buf, 1, FILE_CHUNK, f);
    if (got > 0) {
      if (EVP_DigestUpdate(ctx, buf, got) != 1) {
        rc = fmr_err_set(err, FMR_EIO, "%s: SHA-256 update failed in libcrypto", path);
        goto done;
      }
      total += got;
    }
    if (got < FILE_CHUNK) {
      if (ferror(f)) {
        rc = fmr_err_set(err, FMR_EIO, "%s: read error after %llu bytes: %s", path,
                         (unsigned long long)total, strerror(errno));
        goto done;
      }
      break;
    }
  }
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
    rc = fmr_err_set(err, FMR_EIO, "%s: SHA-256 finalisation failed in libcrypto", path);
    goto done;
  }
  hex(md, out);
  if (bytes) *bytes = total;

done:
  EVP_MD_CTX_free(ctx);
  free(buf);
  if (f) (void)fclose(f); /* read-only: a close error cannot lose data */
  return rc;
}
