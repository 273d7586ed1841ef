/* Deterministic DICOM UIDs (SPEC 5.2) and SHA-256 helpers (OpenSSL libcrypto). No MPI here. */
#ifndef FMR_UID_H
#define FMR_UID_H

#include <stddef.h>
#include <stdint.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FMR_UID_MAX 65 /* 64 characters + NUL */

/* UID = <root>.<decimal of the first 128 bits (fewer if the root is long) of
 * SHA-256("<ns>/<volume>/<role>[/<index>]")>. root "2.25" by default. index < 0: omitted.
 * Fails with FMR_EINVAL if root is not a valid UID prefix or leaves no room. */
int fmr_uid_make(const char *root, const char *ns, const char *volume, const char *role,
                 long index, char out[FMR_UID_MAX], fmr_err *err);

/* SHA-256 of a buffer / of a file, as 64 lowercase hex characters + NUL. */
void fmr_sha256_hex(const void *data, size_t len, char out[65]);
int fmr_sha256_file(const char *path, char out[65], uint64_t *bytes, fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
