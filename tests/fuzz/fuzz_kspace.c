/* Fuzz target: the fastMRI HDF5 reader (SPEC 2.1) on arbitrary bytes written to a file: open and
 * validate, read every slice of k-space and of each stored reconstruction, parse the header.
 * Limits are small so a mutated size cannot ask for gigabytes: the refusal is what is tested.
 *
 * Note: a crash inside HDF5 itself (not our code) also stops libFuzzer; such inputs are what
 * fmr_kspace_probe contains in a run (tests/fuzz/regressions/kspace/README). */
#include <complex.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fmr/recon/header.h"
#include "fmr/recon/kspace.h"
#include "fuzz.h"

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/fmr-fuzz-kspace-%ld.h5", dir, (long)getpid());
  }
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return 0;
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(fd);
  if (off != size) return 0;

  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.kspace_slices = 64;
  lim.kspace_slice_elements = (size_t)1 << 18;
  lim.kspace_elements = (size_t)1 << 20;
  lim.kspace_dim = 1024;
  lim.header_bytes = (size_t)1 << 16;
  fmr_kspace *ks = NULL;
  fmr_err err;
  if (fmr_kspace_open_limited(path, &lim, &ks, &err) == 0) {
    const fmr_kspace_info *in = fmr_kspace_info_of(ks);
    float complex *k = malloc(in->coils * in->H * in->W * sizeof *k);
    size_t rn = in->rec_h * in->rec_w;
    float *r = malloc((rn ? rn : 1) * sizeof *r);
    for (size_t s = 0; k && s < in->slices; s++) (void)fmr_kspace_read_slice(ks, s, k, &err);
    for (size_t s = 0; r && in->has_rss && s < in->slices; s++)
      (void)fmr_kspace_read_recon(ks, "reconstruction_rss", s, r, &err);
    for (size_t s = 0; r && in->has_esc && s < in->slices; s++)
      (void)fmr_kspace_read_recon(ks, "reconstruction_esc", s, r, &err);
    if (in->header_len) {
      fmr_header h;
      (void)fmr_header_parse_limited(in->header_xml, in->header_len, path, &lim, &h, &err);
    }
    free(r);
    free(k);
    fmr_kspace_close(&ks);
  }
  unlink(path);
  return 0;
}
