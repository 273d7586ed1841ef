/* Deterministic UIDs and SHA-256. Expected UIDs were computed in Python:
 *   d = hashlib.sha256(name.encode()).digest()
 *   root + "." + str(int.from_bytes(d[:16], "big") >> (128 - bits)) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmr/dicom/uid.h"
#include "fmr_test.h"

static void test_sha256(void) {
  char hex[65];
  fmr_sha256_hex("abc", 3, hex); /* FIPS 180-2 example */
  CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fmr_sha256_hex("", 0, hex);
  CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_file(void) {
  /* 3 MiB + 5 bytes, so the 1 MiB chunks end mid-file and in a short tail. Python:
   * hashlib.sha256(bytes((i*31+7) & 0xff for i in range(3*2**20+5))).hexdigest() */
  char path[] = "/tmp/fmr_test_uid_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  FILE *f = fdopen(fd, "wb");
  const size_t n = 3u * 1024 * 1024 + 5;
  for (size_t i = 0; i < n; i++) fputc((int)((i * 31 + 7) & 0xff), f);
  CHECK_INT_EQ(fclose(f), 0);
  char hex[65];
  uint64_t bytes = 0;
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_sha256_file(path, hex, &bytes, &err), 0);
  CHECK_STR_EQ(hex, "aacbf7fdf74148b96f47b5a44d8be9f8d52b59c291c5f60cfb68671b58059e56");
  CHECK_UINT_EQ(bytes, n);
  unlink(path);
  CHECK_INT_EQ(fmr_sha256_file(path, hex, &bytes, &err), FMR_ENOENT);
  CHECK(strstr(err.msg, path) != NULL);
}

static void test_uid_2_25(void) {
  char uid[FMR_UID_MAX];
  fmr_err err;
  fmr_err_clear(&err);
  CHECK_INT_EQ(fmr_uid_make("2.25", "fastmri-regen", "file1000001", "study", -1, uid, &err), 0);
  CHECK_STR_EQ(uid, "2.25.179811814521717820171162934332460250198");
  CHECK_INT_EQ(fmr_uid_make(NULL, "fastmri-regen", "file1000001", "image", 7, uid, &err), 0);
  CHECK_STR_EQ(uid, "2.25.331977467778166055918885087565129013124");
  /* The first hash byte is 0: the decimal has no leading zeros and is shorter. */
  CHECK_INT_EQ(fmr_uid_make("2.25", "ns", "v", "image", 25, uid, &err), 0);
  CHECK_STR_EQ(uid, "2.25.936818353588343825305403954703057001");
  /* Same inputs, same UID; different index, different UID. */
  char again[FMR_UID_MAX];
  CHECK_INT_EQ(fmr_uid_make("2.25", "ns", "v", "image", 26, again, &err), 0);
  CHECK(strcmp(uid, again) != 0);
}

static void test_uid_org_root(void) {
  char uid[FMR_UID_MAX];
  fmr_err err;
  fmr_err_clear(&err);
  /* A 26-character root leaves 37 digits: 122 bits. */
  CHECK_INT_EQ(fmr_uid_make("1.2.826.0.1.3680043.10.543", "ns", "vol", "series", -1, uid, &err), 0);
  CHECK_STR_EQ(uid, "1.2.826.0.1.3680043.10.543.1870388727246929391307766838385869090");
  CHECK_UINT_EQ(strlen(uid), 64);
  /* Every root length up to 43 gives a UID of at most 64 characters. */
  char root[64] = "1";
  for (size_t len = 1; len <= 43; len++) {
    memset(root, '1', len);
    root[len] = '\0';
    for (size_t k = 1; k + 1 < len; k += 2) root[k] = '.';
    if (root[len - 1] == '.') root[len - 1] = '2';
    CHECK_INT_EQ(fmr_uid_make(root, "ns", "vol", "image", 3, uid, &err), 0);
    CHECK(strlen(uid) <= 64);
    CHECK(strncmp(uid, root, len) == 0 && uid[len] == '.');
  }
  /* 44 characters would leave fewer than 64 bits. */
  memset(root, '1', 44);
  root[44] = '\0';
  CHECK_INT_EQ(fmr_uid_make(root, "ns", "vol", "image", 3, uid, &err), FMR_EINVAL);
}

static void test_root_validation(void) {
  static const char *const bad[] = {"1..2", "1.02", ".1", "1.", "1.a", "01.2", "2.25 ", "-1"};
  static const char *const good[] = {"0", "0.1", "1.0.3", "2.25", "1.2.840.10008"};
  char uid[FMR_UID_MAX];
  fmr_err err;
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    fmr_err_clear(&err);
    CHECK_INT_EQ(fmr_uid_make(bad[k], "ns", "v", "r", -1, uid, &err), FMR_EINVAL);
    CHECK(strstr(err.msg, bad[k]) != NULL);
  }
  for (size_t k = 0; k < sizeof good / sizeof *good; k++)
    CHECK_INT_EQ(fmr_uid_make(good[k], "ns", "v", "r", -1, uid, &err), 0);
  CHECK_INT_EQ(fmr_uid_make("2.25", NULL, "v", "r", -1, uid, &err), FMR_EINVAL);
}

int main(void) {
  test_sha256();
  test_sha256_file();
  test_uid_2_25();
  test_uid_org_root();
  test_root_validation();
  return fmr_test_end();
}
