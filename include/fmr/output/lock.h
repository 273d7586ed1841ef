/* One run per output directory (SPEC 9): an advisory flock(2) on a file under <outdir>/.fmr/.
 *
 * Two kinds of holder share one directory:
 *   - a whole-directory run (name NULL: a full `run`, or `run --merge`) holds .fmr/run.lock
 *     exclusively and writes its identity (host, pid, Slurm job) into it;
 *   - a shard (name e.g. "shard-2-of-4") holds .fmr/run.lock *shared* and its own
 *     .fmr/<name>.lock exclusively, with its identity in the latter.
 * So shards run side by side, two copies of one shard exclude each other, a full run or a merge
 * refuses while any shard runs, and a shard refuses while a full run or merge runs.
 *
 * The kernel drops a flock when its holder dies (also kill -9, node reboot on a local disk), so a
 * lock file left behind is just a stale identity: the next run takes it over and says whose it was.
 * Where the file system cannot lock (ENOLCK: NFSv3 without lockd; ENOSYS/EOPNOTSUPP: Lustre mounted
 * without `flock`), acquire refuses with FMR_ECONFIG unless FMR_LOCK=off is set in the environment,
 * in which case it warns and returns a lock that holds nothing. */
#ifndef FMR_OUTPUT_LOCK_H
#define FMR_OUTPUT_LOCK_H

#ifdef __cplusplus
extern "C" {
#endif

#include "fmr/util/error.h"

typedef struct fmr_lock fmr_lock;

/* Take the lock for outdir (created with .fmr/ if missing) before anything else is written there.
 * name: NULL for the whole directory, else a shard's name ([A-Za-z0-9._-]+, e.g. "shard-2-of-4").
 * Returns 0 and *out, or FMR_ECONFIG at once (never waits) naming the holder: host, pid, Slurm job.
 * A takeover from a dead holder succeeds and logs a warning naming it (also fmr_lock_note). */
int fmr_lock_acquire(const char *outdir, const char *name, fmr_lock **out, fmr_err *err);

/* The takeover message ("took over the lock of ..., which is no longer running"), or NULL. */
const char *fmr_lock_note(const fmr_lock *lock);

/* Clear the identity and drop the lock; *lock becomes NULL. Safe on NULL. Also safe to skip: the
 * kernel releases the lock at exit, and the identity left behind is then taken over. */
void fmr_lock_release(fmr_lock **lock);

#ifdef __cplusplus
}
#endif
#endif
