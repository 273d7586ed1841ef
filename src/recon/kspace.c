/* Reading one fastMRI HDF5 volume (SPEC 2.1), one slice at a time.
 *
 * Every file is untrusted. Everything the rest of the pipeline relies on (types, ranks, sizes, slice
 * counts) is checked once in fmr_kspace_open, so a bad file fails there with one clear message
 * instead of deep inside a read. HDF5's own error printing is switched off around every call into
 * this module and the innermost HDF5 message is folded into ours instead. */
#include "fmr/recon/kspace.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/recon/header.h"
#include "recon/kspace_internal.h"
#include "util/h5util.h"

struct fmr_kspace {
  char *path;
  hid_t file;
  hid_t kspace;   /* the kspace dataset */
  hid_t ctype;    /* memory type: {float r; float i;} laid out as float complex */
  hid_t rss, esc; /* stored reconstructions, H5I_INVALID_HID when absent */
  fmr_kspace_info info;
  fmr_limits lim; /* what this file may make us allocate (fmr_kspace_open_limited) */
  /* Byte offset of slice 0 when a slice's file bytes are exactly what the HDF5 read would put in
   * memory (see find_raw_layout); 0: they are not, only HDF5 reads this file. */
  uint64_t raw_offset;
};

/* ---- HDF5 error handling ------------------------------------------------------------------------ */

/* Record an HDF5 failure: "<path>: <what> (HDF5: <innermost HDF5 message>)". */
static int h5_fail(fmr_err *err, const char *path, const char *what) {
  return fmr__h5_fail(err, FMR_EHDF5, path, "%s", what);
}

static const char *class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

/* ---- opening datasets --------------------------------------------------------------------------- */

/* Open root-level dataset `name`. Absent: *out stays invalid and 0 is returned (the caller decides
 * whether that is an error). Only hard links to datasets with data inside this file are accepted:
 * soft/external links, external raw storage and virtual datasets could make an untrusted file pull
 * bytes from elsewhere on the machine into our outputs. */
static int open_dataset(const fmr_kspace *ks, const char *name, hid_t *out, fmr_err *err) {
  const char *path = ks->path;
  hid_t dset = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  int rc = 0;
  *out = H5I_INVALID_HID;

  htri_t exists = H5Lexists(ks->file, name, H5P_DEFAULT);
  if (exists < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot look up '%s'", name);
    return h5_fail(err, path, what);
  }
  if (!exists) return 0;

  H5L_info_t linfo;
  if (H5Lget_info(ks->file, name, &linfo, H5P_DEFAULT) < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the link '%s'", name);
    return h5_fail(err, path, what);
  }
  if (linfo.type != H5L_TYPE_HARD)
    return fmr_err_set(err, FMR_EFORMAT, "%s: '%s' is a %s link, not a dataset stored in the file",
                       path, name, linfo.type == H5L_TYPE_SOFT ? "soft" : "external");

  dset = H5Dopen2(ks->file, name, H5P_DEFAULT);
  if (dset < 0) {
    char what[128];
    snprintf(what, sizeof what, "'%s' is not a readable dataset", name);
    rc = h5_fail(err, path, what);
    goto done;
  }
  dcpl = H5Dget_create_plist(dset);
  if (dcpl < 0) {
    rc = h5_fail(err, path, "cannot read dataset creation properties");
    goto done;
  }
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: '%s' has an unsupported storage layout (%d; virtual "
                     "datasets are not accepted)", path, name, (int)layout);
    goto done;
  }
  int next = H5Pget_external_count(dcpl);
  if (next != 0) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: '%s' keeps its data in external files, which is not "
                     "accepted", path, name);
    goto done;
  }
  /* A filter we lack (LZF, Blosc, ...) would only surface as an obscure read error much later. */
  int nfilters = layout == H5D_CHUNKED ? H5Pget_nfilters(dcpl) : 0;
  if (nfilters < 0) {
    rc = h5_fail(err, path, "cannot read the filter pipeline");
    goto done;
  }
  for (int f = 0; f < nfilters; f++) {
    unsigned flags = 0, fconf = 0;
    size_t nelem = 0;
    char fname[64] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)f, &flags, &nelem, NULL, sizeof fname, fname,
                                     &fconf);
    if (id < 0) {
      rc = h5_fail(err, path, "cannot read the filter pipeline");
      goto done;
    }
    if (H5Zfilter_avail(id) <= 0) {
      rc = fmr_err_set(err, FMR_EFORMAT, "%s: '%s' is compressed with HDF5 filter %d (%s), which "
                       "this HDF5 library does not provide", path, name, (int)id,
                       fname[0] ? fname : "unnamed");
      goto done;
    }
  }
  *out = dset;
  dset = H5I_INVALID_HID;

done:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

/* Rank and dims of a dataset's simple dataspace; scalar and null spaces are reported as rank 0. */
static int dataset_shape(const char *path, const char *name, hid_t dset, int *rank,
                         hsize_t dims[H5S_MAX_RANK], fmr_err *err) {
  hid_t space = H5Dget_space(dset);
  if (space < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the shape of '%s'", name);
    return h5_fail(err, path, what);
  }
  int rc = 0;
  H5S_class_t sc = H5Sget_simple_extent_type(space);
  int nd = sc == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : 0;
  if (nd < 0 || (nd > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the shape of '%s'", name);
    rc = h5_fail(err, path, what);
  }
  *rank = nd;
  H5Sclose(space);
  return rc;
}

static void format_dims(char *buf, size_t size, int rank, const hsize_t *dims) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "(");
  for (int i = 0; i < rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  if (n < size) snprintf(buf + n, size - n, rank == 1 ? ",)" : ")");
}

/* ---- strings and numbers (ismrmrd_header, root attributes) -------------------------------------- */

typedef struct vlen_limit {
  size_t max;
  int refused;
} vlen_limit;

/* HDF5 allocates variable-length data itself, trusting the size stored in the file; this allocator
 * turns an absurd stored size into a clean read failure instead of a huge malloc. */
static void *vlen_alloc(size_t size, void *info) {
  vlen_limit *lim = info;
  if (size > lim->max) {
    lim->refused = 1;
    return NULL;
  }
  return malloc(size);
}

static void vlen_free(void *mem, void *info) {
  (void)info;
  free(mem);
}

/* The length a variable-length string dataset claims, read from the file itself: HDF5's own
 * conversion allocates that many bytes before any allocator of ours is asked, so a mutated length
 * (seen while fuzzing: 3.6 GB) must be refused first. For contiguous storage the element's disk
 * form is a 4-byte little-endian length followed by the global heap ID. 1 and *len when read;
 * 0 when the layout keeps the element elsewhere (compact) and the check cannot be made. */
static int vlen_stored_length(const char *path, hid_t dset, uint64_t *len) {
  haddr_t off = H5Dget_offset(dset);
  if (off == HADDR_UNDEF) {
    (void)H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  unsigned char b[4];
  ssize_t got = pread(fd, b, sizeof b, (off_t)off);
  close(fd);
  if (got != (ssize_t)sizeof b) return 0;
  *len = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
  return 1;
}

/* Read the one string held by a dataset (is_attr 0) or attribute (is_attr 1): fixed or variable
 * length, in a scalar or one-element dataspace. *out is malloc'd and NUL-terminated. Strings longer
 * than max bytes are refused. */
static int read_string(const char *path, const char *name, hid_t obj, int is_attr, size_t max,
                       char **out, size_t *out_len, fmr_err *err) {
  hid_t ftype = H5I_INVALID_HID, space = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  hid_t dxpl = H5I_INVALID_HID;
  char *vstr = NULL, *buf = NULL;
  int vread = 0, rc = 0;
  *out = NULL;
  *out_len = 0;
  char label[96];
  snprintf(label, sizeof label, "%s'%s'", is_attr ? "attribute " : "", name);

  ftype = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
  space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
  if (ftype < 0 || space < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the type of %s", label);
    rc = h5_fail(err, path, what);
    goto done;
  }
  H5T_class_t cls = H5Tget_class(ftype);
  if (cls != H5T_STRING) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s has type %s, expected a string", path, label,
                     class_name(cls));
    goto done;
  }
  hssize_t npoints = H5Sget_simple_extent_npoints(space);
  if (npoints != 1) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s holds %lld values, expected one string", path,
                     label, (long long)npoints);
    goto done;
  }
  htri_t is_vlen = H5Tis_variable_str(ftype);
  H5T_cset_t cset = H5Tget_cset(ftype);
  mtype = H5Tcopy(H5T_C_S1);
  if (is_vlen < 0 || cset < 0 || mtype < 0 || H5Tset_cset(mtype, cset) < 0) {
    rc = h5_fail(err, path, "cannot set up a string type");
    goto done;
  }

  const char *src;
  size_t len;
  if (is_vlen) {
    vlen_limit lim = {max + 1, 0};
    uint64_t stored = 0;
    if (!is_attr && vlen_stored_length(path, obj, &stored) && stored > max) {
      rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s is longer than %zu bytes (it claims %llu; "
                       "limits.header_bytes)", path, label, max, (unsigned long long)stored);
      goto done;
    }
    if (H5Tset_size(mtype, H5T_VARIABLE) < 0) {
      rc = h5_fail(err, path, "cannot set up a string type");
      goto done;
    }
    herr_t st;
    if (is_attr) {
      st = H5Aread(obj, mtype, &vstr);
    } else {
      dxpl = H5Pcreate(H5P_DATASET_XFER);
      if (dxpl < 0 || H5Pset_vlen_mem_manager(dxpl, vlen_alloc, &lim, vlen_free, NULL) < 0) {
        rc = h5_fail(err, path, "cannot set up a transfer property list");
        goto done;
      }
      st = H5Dread(obj, mtype, H5S_ALL, H5S_ALL, dxpl, &vstr);
    }
    if (st < 0) {
      if (lim.refused) {
        (void)H5Eclear2(H5E_DEFAULT);
        rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s is longer than %zu bytes", path, label, max);
      } else {
        char what[128];
        snprintf(what, sizeof what, "cannot read %s", label);
        rc = h5_fail(err, path, what);
      }
      goto done;
    }
    vread = 1;
    src = vstr ? vstr : "";
    len = strlen(src);
  } else {
    size_t size = H5Tget_size(ftype);
    if (size == 0) {
      rc = h5_fail(err, path, "cannot read a string size");
      goto done;
    }
    if (size > max) {
      rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s is a %zu-byte string, longer than %zu bytes",
                       path, label, size, max);
      goto done;
    }
    /* NULLPAD keeps all `size` characters: a NULLTERM memory type would drop the last one of a
     * string that fills its fixed-length field (what h5py writes). */
    buf = calloc(size + 1, 1);
    if (!buf) {
      rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory reading %s", path, label);
      goto done;
    }
    if (H5Tset_size(mtype, size) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLPAD) < 0) {
      rc = h5_fail(err, path, "cannot set up a string type");
      goto done;
    }
    herr_t st = is_attr ? H5Aread(obj, mtype, buf)
                        : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (st < 0) {
      char what[128];
      snprintf(what, sizeof what, "cannot read %s", label);
      rc = h5_fail(err, path, what);
      goto done;
    }
    src = buf;
    len = strnlen(buf, size);
  }
  if (len > max) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: %s is longer than %zu bytes", path, label, max);
    goto done;
  }
  *out = malloc(len + 1);
  if (!*out) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory reading %s", path, label);
    goto done;
  }
  memcpy(*out, src, len);
  (*out)[len] = '\0';
  *out_len = len;

done:
  if (vread) {
    /* Reclaim with the same transfer list so HDF5 frees with the allocator it used. */
    (void)H5Dvlen_reclaim(mtype, space, dxpl >= 0 ? dxpl : H5P_DEFAULT, &vstr);
  }
  free(buf);
  if (dxpl >= 0) H5Pclose(dxpl);
  if (mtype >= 0) H5Tclose(mtype);
  if (space >= 0) H5Sclose(space);
  if (ftype >= 0) H5Tclose(ftype);
  return rc;
}

/* A root string attribute into a fixed buffer; absent leaves "". */
static int read_root_string_attr(const fmr_kspace *ks, const char *name, char *dst, size_t cap,
                                 fmr_err *err) {
  dst[0] = '\0';
  htri_t exists = H5Aexists(ks->file, name);
  if (exists < 0) return h5_fail(err, ks->path, "cannot list the root attributes");
  if (!exists) return 0;
  hid_t attr = H5Aopen(ks->file, name, H5P_DEFAULT);
  if (attr < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot open the root attribute '%s'", name);
    return h5_fail(err, ks->path, what);
  }
  char *s = NULL;
  size_t len = 0;
  int rc = read_string(ks->path, name, attr, 1, cap - 1, &s, &len, err);
  if (rc == 0) memcpy(dst, s, len + 1);
  free(s);
  H5Aclose(attr);
  return rc;
}

/* A root numeric attribute (any integer or float type, one value) as a double; absent leaves NaN. */
static int read_root_number_attr(const fmr_kspace *ks, const char *name, double *dst,
                                 fmr_err *err) {
  *dst = NAN;
  htri_t exists = H5Aexists(ks->file, name);
  if (exists < 0) return h5_fail(err, ks->path, "cannot list the root attributes");
  if (!exists) return 0;
  hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
  int rc = 0;
  attr = H5Aopen(ks->file, name, H5P_DEFAULT);
  if (attr < 0 || (type = H5Aget_type(attr)) < 0 || (space = H5Aget_space(attr)) < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot open the root attribute '%s'", name);
    rc = h5_fail(err, ks->path, what);
    goto done;
  }
  H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: attribute '%s' has type %s, expected a number", ks->path,
                     name, class_name(cls));
    goto done;
  }
  hssize_t npoints = H5Sget_simple_extent_npoints(space);
  if (npoints != 1) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: attribute '%s' holds %lld values, expected one",
                     ks->path, name, (long long)npoints);
    goto done;
  }
  double v;
  if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the root attribute '%s'", name);
    rc = h5_fail(err, ks->path, what);
    goto done;
  }
  *dst = v;

done:
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (attr >= 0) H5Aclose(attr);
  return rc;
}

/* ---- the datasets ------------------------------------------------------------------------------- */

/* Size the chunk cache so that a chunk spanning several slices is inflated once, not once per slice:
 * it must hold every chunk that one slice touches. Beyond the cap, reads are still correct, only
 * slower. Runs after check_kspace, so the link is known to be a hard one and the shape is sane; the
 * cache is a property of the open handle, hence the reopen. */
static int kspace_chunk_cache(fmr_kspace *ks, fmr_err *err) {
  const size_t cap = (size_t)256 << 20;
  hid_t dcpl = H5I_INVALID_HID, dapl = H5I_INVALID_HID;
  int rc = 0;

  dcpl = H5Dget_create_plist(ks->kspace);
  if (dcpl < 0) {
    rc = h5_fail(err, ks->path, "cannot read the storage layout of 'kspace'");
    goto done;
  }
  const fmr_kspace_info *in = &ks->info;
  int rank = in->multicoil ? 4 : 3;
  hsize_t dims[4] = {in->slices, in->coils, in->H, in->W}, chunk[4];
  if (rank == 3) {
    dims[1] = in->H;
    dims[2] = in->W;
  }
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) goto done;
  if (H5Pget_chunk(dcpl, rank, chunk) != rank) {
    rc = h5_fail(err, ks->path, "cannot read the chunk shape of 'kspace'");
    goto done;
  }
  if (chunk[0] <= 1) goto done; /* each chunk belongs to one slice: read once anyway */
  double bytes = (double)sizeof(float complex) * (double)chunk[0], nchunks = 1;
  for (int i = 1; i < rank; i++) {
    if (chunk[i] == 0) goto done;
    double n = ceil((double)dims[i] / (double)chunk[i]);
    nchunks *= n;
    bytes *= (double)chunk[i] * n;
  }
  if (bytes <= (double)((size_t)1 << 20)) goto done; /* HDF5's default cache is 1 MiB */
  size_t nbytes = bytes < (double)cap ? (size_t)bytes : cap;
  size_t nslots = (size_t)(nchunks * 10.0) | 1; /* HDF5 wants many more slots than chunks */
  if (nslots < 521) nslots = 521;
  dapl = H5Pcreate(H5P_DATASET_ACCESS);
  if (dapl < 0 || H5Pset_chunk_cache(dapl, nslots, nbytes, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
    rc = h5_fail(err, ks->path, "cannot size the chunk cache");
    goto done;
  }
  H5Dclose(ks->kspace);
  ks->kspace = H5Dopen2(ks->file, "kspace", dapl);
  if (ks->kspace < 0) rc = h5_fail(err, ks->path, "cannot reopen 'kspace'");

done:
  if (dapl >= 0) H5Pclose(dapl);
  if (dcpl >= 0) H5Pclose(dcpl);
  return rc;
}

/* kspace: compound {float32 LE r, float32 LE i}, rank 3 or 4, every size within bounds. */
static int check_kspace(fmr_kspace *ks, fmr_err *err) {
  const char *path = ks->path;
  hid_t type = H5I_INVALID_HID, mr = H5I_INVALID_HID, mi = H5I_INVALID_HID;
  int rc = 0;

  type = H5Dget_type(ks->kspace);
  if (type < 0) {
    rc = h5_fail(err, path, "cannot read the type of 'kspace'");
    goto done;
  }
  H5T_class_t cls = H5Tget_class(type);
  int nmemb = cls == H5T_COMPOUND ? H5Tget_nmembers(type) : -1;
  int ir = cls == H5T_COMPOUND ? H5Tget_member_index(type, "r") : -1;
  int ii = cls == H5T_COMPOUND ? H5Tget_member_index(type, "i") : -1;
  if (cls != H5T_COMPOUND || nmemb != 2 || ir < 0 || ii < 0) {
    (void)H5Eclear2(H5E_DEFAULT);
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'kspace' has type %s%s, expected complex64 (a compound of "
                     "float32 members 'r' and 'i')", path, class_name(cls),
                     cls == H5T_COMPOUND ? " with other members" : "");
    goto done;
  }
  mr = H5Tget_member_type(type, (unsigned)ir);
  mi = H5Tget_member_type(type, (unsigned)ii);
  if (mr < 0 || mi < 0) {
    rc = h5_fail(err, path, "cannot read the members of 'kspace'");
    goto done;
  }
  htri_t okr = H5Tequal(mr, H5T_IEEE_F32LE), oki = H5Tequal(mi, H5T_IEEE_F32LE);
  if (okr < 0 || oki < 0) {
    rc = h5_fail(err, path, "cannot compare the member types of 'kspace'");
    goto done;
  }
  if (!okr || !oki) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'kspace' members 'r' and 'i' must be little-endian "
                     "float32", path);
    goto done;
  }

  int rank = 0;
  hsize_t dims[H5S_MAX_RANK];
  if ((rc = dataset_shape(path, "kspace", ks->kspace, &rank, dims, err)) < 0) goto done;
  if (rank != 3 && rank != 4) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'kspace' has rank %d, expected 3 (slices, H, W) or 4 "
                     "(slices, coils, H, W)", path, rank);
    goto done;
  }
  char shape[128];
  format_dims(shape, sizeof shape, rank, dims);
  fmr_kspace_info *in = &ks->info;
  in->multicoil = rank == 4;
  hsize_t slices = dims[0], coils = rank == 4 ? dims[1] : 1;
  hsize_t H = dims[rank - 2], W = dims[rank - 1];
  if (slices == 0 || coils == 0 || H == 0 || W == 0) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'kspace' is empty, shape %s", path, shape);
    goto done;
  }
  const fmr_limits *lim = &ks->lim;
  const char *which = slices > lim->kspace_slices ? "kspace_slices"
                      : coils > lim->kspace_coils ? "kspace_coils"
                      : H > lim->kspace_dim || W > lim->kspace_dim ? "kspace_dim"
                                                                   : NULL;
  if (which) {
    rc = fmr_err_set(err, FMR_ERANGE, "%s: 'kspace' shape %s is out of range (at most %zu slices, "
                     "%zu coils, %zu x %zu; limits.%s)", path, shape, lim->kspace_slices,
                     lim->kspace_coils, lim->kspace_dim, lim->kspace_dim, which);
    goto done;
  }
  /* Each factor is at most 2^20 (the config's bounds), so neither product overflows 64 bits. */
  hsize_t per_slice = coils * H * W, total = per_slice * slices;
  if (per_slice > lim->kspace_slice_elements || total > lim->kspace_elements) {
    int one = per_slice > lim->kspace_slice_elements;
    rc = fmr_err_set(err, FMR_ERANGE, "%s: 'kspace' shape %s holds %llu complex values %s, more "
                     "than the limit of %zu (limits.%s)", path, shape,
                     (unsigned long long)(one ? per_slice : total), one ? "per slice" : "in all",
                     one ? lim->kspace_slice_elements : lim->kspace_elements,
                     one ? "kspace_slice_elements" : "kspace_elements");
    goto done;
  }
  in->slices = (size_t)slices;
  in->coils = (size_t)coils;
  in->H = (size_t)H;
  in->W = (size_t)W;

done:
  if (mi >= 0) H5Tclose(mi);
  if (mr >= 0) H5Tclose(mr);
  if (type >= 0) H5Tclose(type);
  return rc;
}

/* A stored reconstruction: float32, rank 3, one image per k-space slice. */
static int check_recon(const fmr_kspace *ks, const char *name, hid_t dset, size_t *h, size_t *w,
                       fmr_err *err) {
  const char *path = ks->path;
  hid_t type = H5Dget_type(dset);
  if (type < 0) {
    char what[128];
    snprintf(what, sizeof what, "cannot read the type of '%s'", name);
    return h5_fail(err, path, what);
  }
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  H5Tclose(type);
  if (cls != H5T_FLOAT || size != 4)
    return fmr_err_set(err, FMR_EFORMAT, "%s: '%s' has type %zu-byte %s, expected float32", path, name,
                       size, class_name(cls));
  int rank = 0;
  hsize_t dims[H5S_MAX_RANK];
  int rc = dataset_shape(path, name, dset, &rank, dims, err);
  if (rc < 0) return rc;
  char shape[128];
  format_dims(shape, sizeof shape, rank, dims);
  if (rank != 3)
    return fmr_err_set(err, FMR_EFORMAT, "%s: '%s' has rank %d, expected 3 (slices, h, w)", path,
                       name, rank);
  if (dims[0] != ks->info.slices)
    return fmr_err_set(err, FMR_EFORMAT, "%s: '%s' shape %s has %llu slices, 'kspace' has %zu",
                       path, name, shape, (unsigned long long)dims[0], ks->info.slices);
  if (dims[1] == 0 || dims[2] == 0 || dims[1] > ks->lim.kspace_dim || dims[2] > ks->lim.kspace_dim)
    return fmr_err_set(err, FMR_ERANGE, "%s: '%s' shape %s is out of range (1 to %zu per image "
                       "axis; limits.kspace_dim)", path, name, shape, ks->lim.kspace_dim);
  *h = (size_t)dims[1];
  *w = (size_t)dims[2];
  return 0;
}

/* mask: one value per phase-encode line (bool, integer or float); a zero marks a line not sampled. */
static int check_mask(fmr_kspace *ks, hid_t dset, fmr_err *err) {
  const char *path = ks->path;
  fmr_kspace_info *in = &ks->info;
  hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  unsigned char *raw = NULL;
  int rc = 0;

  int rank = 0;
  hsize_t dims[H5S_MAX_RANK];
  if ((rc = dataset_shape(path, "mask", dset, &rank, dims, err)) < 0) goto done;
  if (rank != 1 || dims[0] != in->W) {
    char shape[128];
    format_dims(shape, sizeof shape, rank, dims);
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'mask' has shape %s, expected (%zu,) (one value per "
                     "phase-encode line)", path, shape, in->W);
    goto done;
  }
  ftype = H5Dget_type(dset);
  if (ftype < 0) {
    rc = h5_fail(err, path, "cannot read the type of 'mask'");
    goto done;
  }
  H5T_class_t cls = H5Tget_class(ftype);
  size_t n = in->W, esize;
  int as_double;
  if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
    as_double = 1;
  } else if (cls == H5T_ENUM || cls == H5T_BITFIELD) {
    /* h5py stores numpy bool as an int8 enum {FALSE = 0, TRUE = 1}; HDF5 will not convert an enum
     * to a number, so read it in its native form and test the bytes for zero. */
    mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    as_double = 0;
  } else {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'mask' has type %s, expected bool, integer or float", path,
                     class_name(cls));
    goto done;
  }
  if (mtype < 0 || (esize = H5Tget_size(mtype)) == 0) {
    rc = h5_fail(err, path, "cannot set up a type for 'mask'");
    goto done;
  }
  raw = malloc(n * esize);
  if (!raw) {
    rc = fmr_err_set(err, FMR_ENOMEM, "%s: out of memory reading 'mask'", path);
    goto done;
  }
  if (H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
    rc = h5_fail(err, path, "cannot read 'mask'");
    goto done;
  }
  size_t set = 0;
  for (size_t i = 0; i < n; i++) {
    if (as_double) {
      double v;
      memcpy(&v, raw + i * esize, sizeof v);
      if (isnan(v)) {
        rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'mask' holds NaN at line %zu", path, i);
        goto done;
      }
      set += v != 0.0;
    } else {
      int nonzero = 0;
      for (size_t b = 0; b < esize; b++) nonzero |= raw[i * esize + b] != 0;
      set += (size_t)nonzero;
    }
  }
  in->has_mask = 1;
  in->sampled_lines = set;
  in->undersampled = set < n;

done:
  free(raw);
  if (mtype >= 0) H5Tclose(mtype);
  if (ftype >= 0) H5Tclose(ftype);
  return rc;
}

static int check_header(fmr_kspace *ks, fmr_err *err) {
  hid_t dset = H5I_INVALID_HID;
  int rc = open_dataset(ks, "ismrmrd_header", &dset, err);
  if (rc < 0 || dset < 0) return rc;
  /* Refuse here what the header parser would refuse anyway, before allocating for it. */
  rc = read_string(ks->path, "ismrmrd_header", dset, 0, ks->lim.header_bytes, &ks->info.header_xml,
                   &ks->info.header_len, err);
  H5Dclose(dset);
  return rc;
}

/* k-space whose bytes may be read without HDF5: one contiguous, allocated block in this file (not
 * external), member r at byte 0 and i at byte 4 of an 8-byte element (check_kspace already found
 * both float32 LE), and a little-endian host, so HDF5's read would be a plain copy; and the file
 * is long enough to hold it all, so a short read means the file changed under us. Anything else
 * (chunked, compressed, padded, truncated) keeps raw_offset 0 and is read by HDF5 only. Never an
 * error: this only decides which of two equal reads is used. */
static void find_raw_layout(fmr_kspace *ks, off_t file_size) {
  ks->raw_offset = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  hid_t dcpl = H5Dget_create_plist(ks->kspace), type = H5Dget_type(ks->kspace);
  if (dcpl >= 0 && type >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
      H5Pget_external_count(dcpl) == 0 && H5Tget_size(type) == sizeof(float complex)) {
    int ir = H5Tget_member_index(type, "r"), ii = H5Tget_member_index(type, "i");
    haddr_t off = H5Dget_offset(ks->kspace);
    const fmr_kspace_info *in = &ks->info;
    uint64_t bytes = (uint64_t)in->slices * in->coils * in->H * in->W * sizeof(float complex);
    if (ir >= 0 && ii >= 0 && H5Tget_member_offset(type, (unsigned)ir) == 0 &&
        H5Tget_member_offset(type, (unsigned)ii) == sizeof(float) && off != HADDR_UNDEF &&
        off > 0 && file_size > 0 && (uint64_t)off <= (uint64_t)file_size &&
        bytes <= (uint64_t)file_size - (uint64_t)off)
      ks->raw_offset = (uint64_t)off;
  }
  if (type >= 0) H5Tclose(type);
  if (dcpl >= 0) H5Pclose(dcpl);
  (void)H5Eclear2(H5E_DEFAULT);
#else
  (void)file_size;
#endif
}

/* ---- public ------------------------------------------------------------------------------------- */

static int open_checked(fmr_kspace *ks, fmr_err *err) {
  const char *path = ks->path;
  hid_t fapl = H5I_INVALID_HID, mask = H5I_INVALID_HID;
  int rc = 0;

  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    return fmr_err_set(err, e == ENOENT ? FMR_ENOENT : FMR_EIO, "%s: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) return fmr_err_set(err, FMR_EIO, "%s: not a regular file", path);

  fapl = H5Pcreate(H5P_FILE_ACCESS);
  /* Inputs are only read. HDF5's advisory lock fails on file systems without flock (some Lustre
   * mounts), which would fail every volume for no reason. */
  if (fapl < 0 || H5Pset_file_locking(fapl, 0, 1) < 0) {
    rc = h5_fail(err, path, "cannot create a file access property list");
    goto done;
  }
  ks->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (ks->file < 0) {
    char detail[256];
    fmr__h5_error_detail(detail, sizeof detail);
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: not a readable HDF5 file (HDF5: %s)", path, detail);
    goto done;
  }

  if ((rc = open_dataset(ks, "kspace", &ks->kspace, err)) < 0) goto done;
  if (ks->kspace < 0) {
    rc = fmr_err_set(err, FMR_EFORMAT, "%s: no 'kspace' dataset", path);
    goto done;
  }
  if ((rc = check_kspace(ks, err)) < 0) goto done;
  if ((rc = kspace_chunk_cache(ks, err)) < 0) goto done;
  find_raw_layout(ks, st.st_size);

  ks->ctype = H5Tcreate(H5T_COMPOUND, sizeof(float complex));
  if (ks->ctype < 0 || H5Tinsert(ks->ctype, "r", 0, H5T_NATIVE_FLOAT) < 0 ||
      H5Tinsert(ks->ctype, "i", sizeof(float), H5T_NATIVE_FLOAT) < 0) {
    rc = h5_fail(err, path, "cannot create the complex memory type");
    goto done;
  }

  fmr_kspace_info *in = &ks->info;
  if ((rc = open_dataset(ks, "reconstruction_rss", &ks->rss, err)) < 0) goto done;
  if ((rc = open_dataset(ks, "reconstruction_esc", &ks->esc, err)) < 0) goto done;
  size_t h = 0, w = 0;
  if (ks->rss >= 0) {
    if ((rc = check_recon(ks, "reconstruction_rss", ks->rss, &h, &w, err)) < 0) goto done;
    in->has_rss = 1;
    in->rec_h = h;
    in->rec_w = w;
  }
  if (ks->esc >= 0) {
    if ((rc = check_recon(ks, "reconstruction_esc", ks->esc, &h, &w, err)) < 0) goto done;
    if (in->has_rss && (h != in->rec_h || w != in->rec_w)) {
      rc = fmr_err_set(err, FMR_EFORMAT, "%s: 'reconstruction_esc' images are %zu x %zu but "
                       "'reconstruction_rss' images are %zu x %zu", path, h, w, in->rec_h,
                       in->rec_w);
      goto done;
    }
    in->has_esc = 1;
    in->rec_h = h;
    in->rec_w = w;
  }

  in->sampled_lines = in->W;
  if ((rc = open_dataset(ks, "mask", &mask, err)) < 0) goto done;
  if (mask >= 0 && (rc = check_mask(ks, mask, err)) < 0) goto done;

  if ((rc = check_header(ks, err)) < 0) goto done;
  if ((rc = read_root_string_attr(ks, "acquisition", in->acquisition, sizeof in->acquisition,
                                  err)) < 0)
    goto done;
  if ((rc = read_root_string_attr(ks, "patient_id", in->patient_id, sizeof in->patient_id, err)) <
      0)
    goto done;
  if ((rc = read_root_number_attr(ks, "max", &in->max, err)) < 0) goto done;
  if ((rc = read_root_number_attr(ks, "norm", &in->norm, err)) < 0) goto done;

done:
  if (mask >= 0) H5Dclose(mask);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

int fmr_kspace_open(const char *path, fmr_kspace **out, fmr_err *err) {
  return fmr_kspace_open_limited(path, NULL, out, err);
}

int fmr_kspace_open_limited(const char *path, const fmr_limits *limits, fmr_kspace **out,
                            fmr_err *err) {
  *out = NULL;
  if (!path) return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_open: no path");
  fmr_kspace *ks = calloc(1, sizeof *ks);
  if (!ks) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  ks->file = ks->kspace = ks->ctype = ks->rss = ks->esc = H5I_INVALID_HID;
  ks->info.max = ks->info.norm = NAN;
  ks->lim = *fmr_limits_or_default(limits);
  ks->path = strdup(path);
  if (!ks->path) {
    free(ks);
    return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", path);
  }
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  int rc = open_checked(ks, err);
  fmr__h5_quiet_end(&q);
  if (rc < 0) {
    fmr_kspace_close(&ks);
    return rc;
  }
  *out = ks;
  return 0;
}

/* Read one row (one coil, one readout line) of the first and last slice of kspace and of each
 * stored reconstruction: enough to walk the chunk index and run the filter pipeline of those
 * chunks, which is where a corrupt file makes HDF5 itself crash, at a cost of a few kB. */
int fmr__kspace_touch(fmr_kspace *ks, fmr_err *err) {
  const fmr_kspace_info *in = &ks->info;
  hid_t dsets[3] = {ks->kspace, ks->rss, ks->esc};
  static const char *const names[3] = {"k-space", "'reconstruction_rss'", "'reconstruction_esc'"};
  size_t row = in->W > in->rec_w ? in->W : in->rec_w;
  float complex *buf = malloc((row ? row : 1) * sizeof *buf);
  if (!buf) return fmr_err_set(err, FMR_ENOMEM, "%s: out of memory", ks->path);
  int rc = 0;
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  for (int d = 0; d < 3 && !rc; d++) {
    if (dsets[d] < 0) continue;
    int rank = d == 0 && in->multicoil ? 4 : 3;
    size_t w = d == 0 ? in->W : in->rec_w;
    hid_t mtype = d == 0 ? ks->ctype : H5T_NATIVE_FLOAT;
    size_t last = in->slices - 1;
    for (size_t s = 0; s <= last && !rc; s += last ? last : 1) {
      hsize_t start[4] = {s, 0, 0, 0}, count[4] = {1, 1, 1, 1}, n = w;
      count[rank - 1] = w;
      hid_t fspace = H5Dget_space(dsets[d]), mspace = H5Screate_simple(1, &n, NULL);
      if (fspace < 0 || mspace < 0 ||
          H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
          H5Dread(dsets[d], mtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
        char what[96];
        snprintf(what, sizeof what, "slice %zu: cannot read %s", s, names[d]);
        rc = h5_fail(err, ks->path, what);
      }
      if (mspace >= 0) H5Sclose(mspace);
      if (fspace >= 0) H5Sclose(fspace);
      if (!last) break;
    }
  }
  fmr__h5_quiet_end(&q);
  free(buf);
  return rc;
}

const fmr_kspace_info *fmr_kspace_info_of(const fmr_kspace *ks) { return &ks->info; }

/* Select slice `slice` of a dataset of rank `rank` (whole extent in the other dimensions) and a
 * matching flat memory space of n elements. */
static int select_slice(hid_t dset, int rank, const hsize_t *count, size_t slice, hid_t *fspace,
                        hid_t *mspace) {
  hsize_t start[4] = {slice, 0, 0, 0};
  hsize_t n = 1;
  for (int i = 0; i < rank; i++) n *= count[i];
  *fspace = H5Dget_space(dset);
  if (*fspace < 0) return -1;
  if (H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) return -1;
  *mspace = H5Screate_simple(1, &n, NULL);
  return *mspace < 0 ? -1 : 0;
}

/* Read slice `slice` of `dset` (see select_slice) into buf as `memtype`. `name` is the dataset as
 * the messages call it. */
static int read_slab(const fmr_kspace *ks, hid_t dset, hid_t memtype, int rank,
                     const hsize_t *count, size_t slice, const char *name, void *buf,
                     fmr_err *err) {
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  int rc = 0;
  char what[96];
  if (select_slice(dset, rank, count, slice, &fspace, &mspace) < 0) {
    snprintf(what, sizeof what, "slice %zu: cannot select %s", slice, name);
    rc = h5_fail(err, ks->path, what);
  } else if (H5Dread(dset, memtype, mspace, fspace, H5P_DEFAULT, buf) < 0) {
    snprintf(what, sizeof what, "slice %zu: cannot read %s", slice, name);
    rc = h5_fail(err, ks->path, what);
  }
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  return rc;
}

int fmr_kspace_read_slice_raw(fmr_kspace *ks, size_t slice, float complex *buf, fmr_err *err) {
  if (!ks || !buf) return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_read_slice: no volume/buffer");
  const fmr_kspace_info *in = &ks->info;
  if (slice >= in->slices)
    return fmr_err_set(err, FMR_EINVAL, "%s: slice %zu: out of range (%zu slices)", ks->path,
                       slice, in->slices);
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  int rank = in->multicoil ? 4 : 3;
  hsize_t count4[4] = {1, in->coils, in->H, in->W};
  hsize_t count3[3] = {1, in->H, in->W};
  int rc = read_slab(ks, ks->kspace, ks->ctype, rank, rank == 4 ? count4 : count3, slice,
                     "k-space", buf, err);
  fmr__h5_quiet_end(&q);
  return rc;
}

int fmr_kspace_read_slice(fmr_kspace *ks, size_t slice, float complex *buf, fmr_err *err) {
  int rc = fmr_kspace_read_slice_raw(ks, slice, buf, err);
  if (rc < 0) return rc;
  const fmr_kspace_info *in = &ks->info;

  /* NaN/Inf would spread through the FFT to every pixel of the slice; name it here, where the
   * cause is visible, instead of failing on an unexplained NaN image later.
   * The scan is branch-free (NaN fails every comparison) so the compiler can vectorise it: an
   * early exit made it the costliest loop of our own code in bench/. */
  const float *f = (const float *)buf;
  size_t n = 2 * in->coils * in->H * in->W;
  int bad = 0;
  for (size_t i = 0; i < n; i++) bad |= !(fabsf(f[i]) <= FLT_MAX);
  if (bad)
    return fmr_err_set(err, FMR_ENUMERIC, "%s: slice %zu: k-space holds NaN/Inf", ks->path, slice);
  return 0;
}

/* The byte ranges of slice `slice` of dset (rank `rank`, shape dims, `elem` bytes an element),
 * appended to out[*n ...) while they fit in cap; *n counts them all. */
static int dset_extents(hid_t dset, int rank, const hsize_t *dims, size_t elem, size_t slice,
                        fmr_kspace_extent *out, size_t cap, size_t *n) {
  hid_t dcpl = H5Dget_create_plist(dset);
  if (dcpl < 0) return -1;
  int rc = 0;
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS) {
    haddr_t off = H5Dget_offset(dset);
    uint64_t per = elem;
    for (int i = 1; i < rank; i++) per *= dims[i];
    if (off != HADDR_UNDEF) {
      if (*n < cap) out[*n] = (fmr_kspace_extent){(uint64_t)off + (uint64_t)slice * per, per};
      (*n)++;
    }
  } else if (layout == H5D_CHUNKED) {
    hsize_t chunk[4], grid[4] = {1, 1, 1, 1}, coord[4] = {0, 0, 0, 0};
    if (rank > 4 || H5Pget_chunk(dcpl, rank, chunk) != rank) {
      rc = -1;
      goto done;
    }
    uint64_t total = 1;
    for (int i = 1; i < rank; i++) {
      if (chunk[i] == 0) goto done;
      grid[i] = (dims[i] + chunk[i] - 1) / chunk[i];
      total *= grid[i];
    }
    if (chunk[0] == 0) goto done;
    coord[0] = (slice / chunk[0]) * chunk[0];
    for (uint64_t t = 0; t < total; t++) {
      uint64_t rest = t;
      for (int i = rank - 1; i >= 1; i--) {
        coord[i] = (rest % grid[i]) * chunk[i];
        rest /= grid[i];
      }
      unsigned filters = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      if (H5Dget_chunk_info_by_coord(dset, coord, &filters, &addr, &size) < 0) {
        rc = -1;
        goto done;
      }
      if (addr == HADDR_UNDEF || size == 0) continue;
      if (*n < cap) out[*n] = (fmr_kspace_extent){(uint64_t)addr, (uint64_t)size};
      (*n)++;
    }
  }
done:
  H5Pclose(dcpl);
  return rc;
}

int fmr_kspace_slice_extents(fmr_kspace *ks, size_t slice, const char *recon,
                             fmr_kspace_extent *out, size_t cap, size_t *n, fmr_err *err) {
  *n = 0;
  if (!ks || slice >= ks->info.slices)
    return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_slice_extents: no volume or slice out of range");
  const fmr_kspace_info *in = &ks->info;
  hsize_t kd[4] = {in->slices, in->coils, in->H, in->W};
  if (!in->multicoil) kd[1] = in->H, kd[2] = in->W;
  hid_t rd = recon && strcmp(recon, "reconstruction_rss") == 0   ? ks->rss
             : recon && strcmp(recon, "reconstruction_esc") == 0 ? ks->esc
                                                                 : H5I_INVALID_HID;
  hsize_t rdims[3] = {in->slices, in->rec_h, in->rec_w};
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  int rc = dset_extents(ks->kspace, in->multicoil ? 4 : 3, kd, sizeof(float complex), slice, out,
                        cap, n);
  if (rc == 0 && rd >= 0) rc = dset_extents(rd, 3, rdims, sizeof(float), slice, out, cap, n);
  if (rc < 0) rc = h5_fail(err, ks->path, "cannot locate a slice's bytes");
  fmr__h5_quiet_end(&q);
  return rc;
}

const char *fmr_kspace_path(const fmr_kspace *ks) { return ks->path; }

int fmr_kspace_raw_slice(const fmr_kspace *ks, size_t slice, fmr_kspace_extent *ext) {
  if (!ks || !ks->raw_offset || slice >= ks->info.slices) return 0;
  const fmr_kspace_info *in = &ks->info;
  uint64_t per = (uint64_t)in->coils * in->H * in->W * sizeof(float complex);
  ext->offset = ks->raw_offset + (uint64_t)slice * per;
  ext->length = per;
  return 1;
}

int fmr_kspace_read_recon(fmr_kspace *ks, const char *dataset, size_t slice, float *buf,
                          fmr_err *err) {
  if (!ks || !dataset || !buf)
    return fmr_err_set(err, FMR_EINVAL, "fmr_kspace_read_recon: no volume/dataset/buffer");
  hid_t dset;
  if (strcmp(dataset, "reconstruction_rss") == 0)
    dset = ks->rss;
  else if (strcmp(dataset, "reconstruction_esc") == 0)
    dset = ks->esc;
  else
    return fmr_err_set(err, FMR_EINVAL, "%s: '%s' is not a stored reconstruction (use "
                       "reconstruction_rss or reconstruction_esc)", ks->path, dataset);
  if (dset < 0) return fmr_err_set(err, FMR_EFORMAT, "%s: no '%s' dataset", ks->path, dataset);
  if (slice >= ks->info.slices)
    return fmr_err_set(err, FMR_EINVAL, "%s: slice %zu: out of range (%zu slices)", ks->path,
                       slice, ks->info.slices);

  char name[32];
  snprintf(name, sizeof name, "'%s'", dataset); /* one of the two names above: fits */
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  hsize_t count[3] = {1, ks->info.rec_h, ks->info.rec_w};
  int rc = read_slab(ks, dset, H5T_NATIVE_FLOAT, 3, count, slice, name, buf, err);
  fmr__h5_quiet_end(&q);
  return rc;
}

void fmr_kspace_close(fmr_kspace **pks) {
  if (!pks || !*pks) return;
  fmr_kspace *ks = *pks;
  fmr__h5_quiet q;
  fmr__h5_quiet_begin(&q);
  if (ks->esc >= 0) H5Dclose(ks->esc);
  if (ks->rss >= 0) H5Dclose(ks->rss);
  if (ks->ctype >= 0) H5Tclose(ks->ctype);
  if (ks->kspace >= 0) H5Dclose(ks->kspace);
  if (ks->file >= 0) H5Fclose(ks->file);
  (void)H5Eclear2(H5E_DEFAULT);
  fmr__h5_quiet_end(&q);
  free(ks->info.header_xml);
  free(ks->path);
  free(ks);
  *pks = NULL;
}
