/* `verify`: re-hash every output against the manifest and find missing, changed and unexpected
 * files. Plain C; the scheduler spreads fmr_verify_check over ranks. No MPI here. */
#ifndef FMR_VERIFY_H
#define FMR_VERIFY_H

#include <jansson.h>

#include "fmr/util/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Load <outdir>/manifest.json and return its outputs as one flat array of {path, bytes, sha256},
 * sorted by path. A manifest saying "complete": false adds one entry {"path": "manifest.json",
 * "incomplete": <remaining>}, which fmr_verify_check reports as problem "incomplete" ("N volumes
 * still to do"), so verify of an interrupted run fails even when every listed file is intact. */
int fmr_verify_expected(const char *outdir, json_t **expected, fmr_err *err);

/* Check one expected output (the store's check: size and SHA-256); returns NULL when intact, else
 * a new problem object {"path", "problem": "missing" | "changed" | "incomplete", "detail"}. */
json_t *fmr_verify_check(const char *outdir, const json_t *entry);

/* Files under outdir that the manifest does not list (bookkeeping files excepted: manifest.json,
 * manifest-sha256.txt, run-report.json, .fmr/). Appends {"path", "problem": "unexpected"}. */
int fmr_verify_unexpected(const char *outdir, const json_t *expected, json_t *problems,
                          fmr_err *err);

#ifdef __cplusplus
}
#endif
#endif
