/* ISMRMRD header parsing: a realistic fastMRI knee header, a sparse one, namespaces, strict numbers,
 * and hostile XML that must fail cleanly without expanding anything or printing to stderr. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmr/util/error.h"
#include "fmr/recon/header.h"
#include "fmr_test.h"

/* Modelled on the headers fastMRI ships (Siemens knee, coronal PD, 15-channel knee coil). */
static const char knee_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
    "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
    "xsi:schemaLocation=\"http://www.ismrm.org/ISMRMRD ismrmrd.xsd\">\n"
    "  <studyInformation>\n    <studyTime>16:47:13</studyTime>\n  </studyInformation>\n"
    "  <measurementInformation>\n"
    "    <measurementID>45160_24864282_24864291_1063</measurementID>\n"
    "    <patientPosition>FFS</patientPosition>\n"
    "    <protocolName>COR PD FBK</protocolName>\n"
    "    <frameOfReferenceUID>1.3.12.2.1107.5.2.19.45160.1.20181009160941418.0.0.0"
    "</frameOfReferenceUID>\n"
    "  </measurementInformation>\n"
    "  <acquisitionSystemInformation>\n"
    "    <systemVendor>SIEMENS</systemVendor>\n"
    "    <systemModel>Skyra</systemModel>\n"
    "    <systemFieldStrength_T>2.89362</systemFieldStrength_T>\n"
    "    <relativeReceiverNoiseBandwidth>0.793</relativeReceiverNoiseBandwidth>\n"
    "    <receiverChannels>15</receiverChannels>\n"
    "    <coilLabel>\n      <coilNumber>27</coilNumber>\n"
    "      <coilName>Tx/Rx_15Ch_Knee:1:T8</coilName>\n    </coilLabel>\n"
    "    <institutionName>NYU</institutionName>\n"
    "  </acquisitionSystemInformation>\n"
    "  <experimentalConditions>\n"
    "    <H1resonanceFrequency_Hz>123251815</H1resonanceFrequency_Hz>\n"
    "  </experimentalConditions>\n"
    "  <encoding>\n"
    "    <encodedSpace>\n"
    "      <matrixSize>\n        <x>640</x>\n        <y>368</y>\n        <z>1</z>\n      </matrixSize>\n"
    "      <fieldOfView_mm>\n        <x>280</x>\n        <y>280</y>\n        <z>4.5</z>\n"
    "      </fieldOfView_mm>\n"
    "    </encodedSpace>\n"
    "    <reconSpace>\n"
    "      <matrixSize>\n        <x>320</x>\n        <y>320</y>\n        <z>1</z>\n      </matrixSize>\n"
    "      <fieldOfView_mm>\n        <x>140</x>\n        <y>140</y>\n        <z>4.5</z>\n"
    "      </fieldOfView_mm>\n"
    "    </reconSpace>\n"
    "    <trajectory>cartesian</trajectory>\n"
    "    <encodingLimits>\n"
    "      <kspace_encoding_step_1>\n        <minimum>0</minimum>\n        <maximum>366</maximum>\n"
    "        <center>183</center>\n      </kspace_encoding_step_1>\n"
    "      <kspace_encoding_step_2>\n        <minimum>0</minimum>\n        <maximum>0</maximum>\n"
    "        <center>0</center>\n      </kspace_encoding_step_2>\n"
    "      <slice>\n        <minimum>0</minimum>\n        <maximum>34</maximum>\n"
    "        <center>0</center>\n      </slice>\n"
    "    </encodingLimits>\n"
    "    <parallelImaging>\n      <accelerationFactor>\n"
    "        <kspace_encoding_step_1>1</kspace_encoding_step_1>\n"
    "        <kspace_encoding_step_2>1</kspace_encoding_step_2>\n      </accelerationFactor>\n"
    "      <calibrationMode>other</calibrationMode>\n    </parallelImaging>\n"
    "  </encoding>\n"
    "  <sequenceParameters>\n"
    "    <TR>2750</TR>\n    <TE>27</TE>\n    <TI>100</TI>\n    <flipAngle_deg>140</flipAngle_deg>\n"
    "    <sequence_type>TurboSpinEcho</sequence_type>\n    <echo_spacing>9.96</echo_spacing>\n"
    "  </sequenceParameters>\n"
    "  <userParameters>\n    <userParameterLong>\n      <name>EchoLinePosition</name>\n"
    "      <value>184</value>\n    </userParameterLong>\n  </userParameters>\n"
    "</ismrmrdHeader>\n";

static int parse(const char *xml, fmr_header *h, fmr_err *err) {
  fmr_err_clear(err);
  return fmr_header_parse(xml, strlen(xml), "file1000001.h5", h, err);
}

static void test_knee(void) {
  fmr_header h;
  fmr_err err;
  CHECK_INT_EQ(parse(knee_xml, &h, &err), 0);
  CHECK_INT_EQ(h.encoded.matrix_x, 640);
  CHECK_INT_EQ(h.encoded.matrix_y, 368);
  CHECK_INT_EQ(h.encoded.matrix_z, 1);
  CHECK_DBL_EQ(h.encoded.fov_x, 280);
  CHECK_DBL_EQ(h.encoded.fov_y, 280);
  CHECK_DBL_EQ(h.encoded.fov_z, 4.5);
  CHECK_INT_EQ(h.recon.matrix_x, 320);
  CHECK_INT_EQ(h.recon.matrix_y, 320);
  CHECK_INT_EQ(h.recon.matrix_z, 1);
  CHECK_DBL_EQ(h.recon.fov_x, 140);
  CHECK_DBL_EQ(h.recon.fov_y, 140);
  CHECK_DBL_EQ(h.recon.fov_z, 4.5);
  CHECK_INT_EQ(h.e1_min, 0);
  CHECK_INT_EQ(h.e1_max, 366);
  CHECK_INT_EQ(h.e1_center, 183);
  CHECK_STR_EQ(h.measurement_id, "45160_24864282_24864291_1063");
  CHECK_STR_EQ(h.patient_position, "FFS");
  CHECK_STR_EQ(h.protocol_name, "COR PD FBK");
  CHECK_STR_EQ(h.frame_of_reference_uid, "1.3.12.2.1107.5.2.19.45160.1.20181009160941418.0.0.0");
  CHECK_STR_EQ(h.system_vendor, "SIEMENS");
  CHECK_STR_EQ(h.system_model, "Skyra");
  CHECK_DBL_EQ(h.field_strength_t, 2.89362);
  CHECK_INT_EQ(h.receiver_channels, 15);
  CHECK_STR_EQ(h.institution_name, "NYU");
  CHECK_DBL_EQ(h.h1_frequency_hz, 123251815.0);
  CHECK_DBL_EQ(h.tr_ms, 2750);
  CHECK_DBL_EQ(h.te_ms, 27);
  CHECK_DBL_EQ(h.ti_ms, 100);
  CHECK_DBL_EQ(h.flip_angle_deg, 140);
  CHECK_STR_EQ(h.sequence_type, "TurboSpinEcho");
  CHECK_DBL_EQ(h.echo_spacing_ms, 9.96);
  CHECK_INT_EQ(h.echo_train_length, -1); /* fastMRI's headers have no echoTrainLength */

  /* the length is honoured: a buffer that is not NUL-terminated after the document still parses */
  char *copy = malloc(sizeof knee_xml + 8);
  memcpy(copy, knee_xml, sizeof knee_xml - 1);
  memcpy(copy + sizeof knee_xml - 1, "garbage!", 8);
  CHECK_INT_EQ(fmr_header_parse(copy, sizeof knee_xml - 1, "x", &h, &err), 0);
  CHECK_DBL_EQ(h.tr_ms, 2750);
  free(copy);
}

static void test_sparse(void) {
  fmr_header h;
  fmr_err err;
  const char *xml =
      "<?xml version=\"1.0\"?>\n<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">"
      "<acquisitionSystemInformation><systemFieldStrength_T>1.494</systemFieldStrength_T>"
      "</acquisitionSystemInformation>"
      "<encoding><reconSpace><matrixSize><x>320</x><y>320</y></matrixSize></reconSpace></encoding>"
      "<sequenceParameters><TI/><TE>  </TE></sequenceParameters>"
      "</ismrmrdHeader>";
  CHECK_INT_EQ(parse(xml, &h, &err), 0);
  CHECK_DBL_EQ(h.field_strength_t, 1.494);
  CHECK_INT_EQ(h.recon.matrix_x, 320);
  CHECK_INT_EQ(h.recon.matrix_y, 320);
  CHECK_INT_EQ(h.recon.matrix_z, -1);
  CHECK(isnan(h.recon.fov_x) && isnan(h.recon.fov_z));
  CHECK_INT_EQ(h.encoded.matrix_x, -1);
  CHECK(isnan(h.encoded.fov_y));
  CHECK_INT_EQ(h.e1_min, -1);
  CHECK_INT_EQ(h.e1_max, -1);
  CHECK_INT_EQ(h.e1_center, -1);
  CHECK_INT_EQ(h.receiver_channels, -1);
  CHECK_STR_EQ(h.measurement_id, "");
  CHECK_STR_EQ(h.protocol_name, "");
  CHECK_STR_EQ(h.system_vendor, "");
  CHECK_STR_EQ(h.institution_name, "");
  CHECK_STR_EQ(h.sequence_type, "");
  CHECK(isnan(h.h1_frequency_hz));
  CHECK(isnan(h.tr_ms) && isnan(h.te_ms) && isnan(h.ti_ms));
  CHECK(isnan(h.flip_angle_deg) && isnan(h.echo_spacing_ms));
  CHECK_INT_EQ(h.echo_train_length, -1);

  CHECK_INT_EQ(parse("<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"/>", &h, &err), 0);
  CHECK_INT_EQ(h.recon.matrix_x, -1);
}

/* encoding/echoTrainLength (xs:long, optional, ISMRMRD >= 1.4): the turbo factor when given. */
static void test_echo_train_length(void) {
  fmr_header h;
  fmr_err err;
  CHECK_INT_EQ(parse("<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"><encoding>"
                     "<trajectory>cartesian</trajectory><echoTrainLength> 16 </echoTrainLength>"
                     "</encoding></ismrmrdHeader>", &h, &err), 0);
  CHECK_INT_EQ(h.echo_train_length, 16);
  CHECK_INT_EQ(parse("<ismrmrdHeader><encoding><echoTrainLength/></encoding></ismrmrdHeader>", &h,
                     &err), 0);
  CHECK_INT_EQ(h.echo_train_length, -1);
  CHECK_INT_EQ(parse("<ismrmrdHeader><encoding><echoTrainLength>-3</echoTrainLength></encoding>"
                     "</ismrmrdHeader>", &h, &err), FMR_EXML);
  CHECK(strstr(err.msg, "encoding/echoTrainLength") != NULL);
}

static void test_namespaces_and_repeats(void) {
  fmr_header h;
  fmr_err err;
  /* a document without the namespace is accepted */
  CHECK_INT_EQ(parse("<ismrmrdHeader><sequenceParameters><TR>5</TR></sequenceParameters>"
                     "</ismrmrdHeader>", &h, &err), 0);
  CHECK_DBL_EQ(h.tr_ms, 5);
  /* a prefix is just a prefix; elements from other namespaces are not ISMRMRD fields */
  CHECK_INT_EQ(parse("<is:ismrmrdHeader xmlns:is=\"http://www.ismrm.org/ISMRMRD\" "
                     "xmlns:o=\"urn:other\"><is:sequenceParameters><o:TR>9</o:TR><is:TR>7</is:TR>"
                     "<is:TE>3</is:TE></is:sequenceParameters></is:ismrmrdHeader>", &h, &err), 0);
  CHECK_DBL_EQ(h.tr_ms, 7);
  CHECK_DBL_EQ(h.te_ms, 3);
  /* the first encoding and the first of a repeated value win */
  CHECK_INT_EQ(parse("<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\">"
                     "<encoding><reconSpace><matrixSize><x>320</x><y>320</y></matrixSize>"
                     "</reconSpace></encoding>"
                     "<encoding><reconSpace><matrixSize><x>64</x><y>64</y></matrixSize>"
                     "</reconSpace></encoding>"
                     "<sequenceParameters><TR>2750</TR><TR>3000</TR><TE>27</TE><TE>81</TE>"
                     "</sequenceParameters></ismrmrdHeader>", &h, &err), 0);
  CHECK_INT_EQ(h.recon.matrix_x, 320);
  CHECK_DBL_EQ(h.tr_ms, 2750);
  CHECK_DBL_EQ(h.te_ms, 27);
  /* wrong root or wrong namespace on the root */
  CHECK_INT_EQ(parse("<foo/>", &h, &err), FMR_EXML);
  CHECK(strstr(err.msg, "root element") != NULL);
  CHECK_INT_EQ(parse("<ismrmrdHeader xmlns=\"urn:not-ismrmrd\"/>", &h, &err), FMR_EXML);
}

static void test_strings(void) {
  fmr_header h;
  fmr_err err;
  char xml[1024], name[300];
  /* over-long strings are cut at a UTF-8 character boundary, never mid-character */
  memset(name, 'A', 126);
  strcpy(name + 126, "\xc3\xa9tude");
  snprintf(xml, sizeof xml, "<ismrmrdHeader><acquisitionSystemInformation><institutionName>%s"
           "</institutionName></acquisitionSystemInformation></ismrmrdHeader>", name);
  CHECK_INT_EQ(parse(xml, &h, &err), 0);
  CHECK_UINT_EQ(strlen(h.institution_name), 126);
  /* surrounding whitespace goes, inner whitespace and character references stay */
  CHECK_INT_EQ(parse("<ismrmrdHeader><measurementInformation><protocolName>\n  AX T2 &amp; "
                     "FS&#x20;\t</protocolName></measurementInformation></ismrmrdHeader>", &h,
                     &err), 0);
  CHECK_STR_EQ(h.protocol_name, "AX T2 & FS");
}

static void test_numbers(void) {
  fmr_header h;
  fmr_err err;
  char xml[512];
  const char *ok_values[][2] = {{" 27 ", "27"}, {"2.7e1", "27"}, {"+27.0", "27"}, {"27.", "27"}};
  for (size_t i = 0; i < sizeof ok_values / sizeof ok_values[0]; i++) {
    snprintf(xml, sizeof xml, "<ismrmrdHeader><sequenceParameters><TE>%s</TE>"
             "</sequenceParameters></ismrmrdHeader>", ok_values[i][0]);
    CHECK_INT_EQ(parse(xml, &h, &err), 0);
    CHECK_DBL_EQ(h.te_ms, atof(ok_values[i][1]));
  }
  const char *bad_doubles[] = {"27ms", "nan", "inf", "0x1p3", "1e999", "2 7", ".", "1e", "--1"};
  for (size_t i = 0; i < sizeof bad_doubles / sizeof bad_doubles[0]; i++) {
    snprintf(xml, sizeof xml, "<ismrmrdHeader><sequenceParameters><TE>%s</TE>"
             "</sequenceParameters></ismrmrdHeader>", bad_doubles[i]);
    CHECK_INT_EQ(parse(xml, &h, &err), FMR_EXML);
    CHECK(strstr(err.msg, "sequenceParameters/TE") != NULL);
    CHECK(strstr(err.msg, "file1000001.h5") != NULL);
    CHECK(isnan(h.te_ms)); /* nothing half-filled on failure */
  }
  const char *bad_ints[] = {"640.5", "-1", "6e2", "99999999999", "x"};
  for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
    snprintf(xml, sizeof xml, "<ismrmrdHeader><encoding><encodedSpace><matrixSize><x>%s</x>"
             "</matrixSize></encodedSpace></encoding></ismrmrdHeader>", bad_ints[i]);
    CHECK_INT_EQ(parse(xml, &h, &err), FMR_EXML);
    CHECK(strstr(err.msg, "encoding/encodedSpace/matrixSize/x") != NULL);
  }
}

/* Everything libxml2 might print goes to our message instead: fd 2 is captured around the call. */
static void parse_quietly(const char *xml, size_t len, fmr_header *h, fmr_err *err, int *rc,
                          long *stderr_bytes) {
  char path[] = "/tmp/fmr_test_header_XXXXXX";
  int fd = mkstemp(path);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fmr_err_clear(err);
  *rc = fmr_header_parse(xml, len, "hostile.h5", h, err);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  fstat(fd, &st);
  *stderr_bytes = (long)st.st_size;
  close(fd);
  unlink(path);
}

static void test_hostile(void) {
  fmr_header h;
  fmr_err err;
  int rc;
  long printed;
  const char *laughs =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE ismrmrdHeader [\n"
      " <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
      "]>\n"
      "<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"><measurementInformation>"
      "<protocolName>&lol9;</protocolName></measurementInformation></ismrmrdHeader>\n";
  parse_quietly(laughs, strlen(laughs), &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK(strstr(err.msg, "DOCTYPE") != NULL);
  CHECK(strstr(err.msg, "hostile.h5") != NULL);
  CHECK_STR_EQ(h.protocol_name, "");
  CHECK_INT_EQ(printed, 0);

  const char *xxe =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE ismrmrdHeader [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
      "<ismrmrdHeader xmlns=\"http://www.ismrm.org/ISMRMRD\"><measurementInformation>"
      "<protocolName>&xxe;</protocolName></measurementInformation></ismrmrdHeader>\n";
  parse_quietly(xxe, strlen(xxe), &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK(strstr(err.msg, "DOCTYPE") != NULL);
  CHECK(strstr(err.msg, "root:") == NULL);
  CHECK_STR_EQ(h.protocol_name, "");
  CHECK_INT_EQ(printed, 0);

  const char *ext_dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE ismrmrdHeader SYSTEM "
                        "\"http://127.0.0.1:9/ismrmrd.dtd\">\n<ismrmrdHeader/>\n";
  parse_quietly(ext_dtd, strlen(ext_dtd), &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK_INT_EQ(printed, 0);

  /* an undeclared entity is simply malformed */
  const char *undeclared = "<ismrmrdHeader><measurementInformation><protocolName>&xxe;"
                           "</protocolName></measurementInformation></ismrmrdHeader>";
  parse_quietly(undeclared, strlen(undeclared), &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK_INT_EQ(printed, 0);

  /* not XML at all: the first bytes of an HDF5 file, and truncated/unbalanced XML */
  const char hdf5_bytes[] = "\x89HDF\r\n\x1a\n\0\0\0\0\0\x08\x08\0\x04\0\x10\0";
  parse_quietly(hdf5_bytes, sizeof hdf5_bytes - 1, &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK(strstr(err.msg, "not valid XML") != NULL);
  CHECK_INT_EQ(printed, 0);
  parse_quietly(knee_xml, 400, &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK(strstr(err.msg, "line ") != NULL);
  CHECK_INT_EQ(printed, 0);

  /* empty and over-sized inputs are refused before parsing */
  CHECK_INT_EQ(fmr_header_parse("", 0, "e.h5", &h, &err), FMR_EXML);
  CHECK(strstr(err.msg, "empty") != NULL);
  size_t big = (size_t)FMR_HEADER_MAX_BYTES + 1;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  CHECK_INT_EQ(fmr_header_parse(huge, big, "big.h5", &h, &err), FMR_EXML);
  CHECK(strstr(err.msg, "limit") != NULL);
  free(huge);

  /* deep nesting is bounded by libxml2's depth limit (no XML_PARSE_HUGE) */
  size_t depth = 20000;
  char *deep = malloc(depth * 7 + 64);
  size_t n = 0;
  n += (size_t)sprintf(deep + n, "<ismrmrdHeader>");
  for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "<a>");
  parse_quietly(deep, n, &h, &err, &rc, &printed);
  CHECK_INT_EQ(rc, FMR_EXML);
  CHECK_INT_EQ(printed, 0);
  free(deep);

  /* the parser still works normally afterwards */
  CHECK_INT_EQ(parse(knee_xml, &h, &err), 0);
  CHECK_STR_EQ(h.protocol_name, "COR PD FBK");
}

/* limits.header_bytes bounds what the parser accepts, with the limit named. */
static void test_limit(void) {
  fmr_limits lim;
  fmr_limits_default(&lim);
  lim.header_bytes = 10;
  fmr_header h;
  fmr_err err;
  const char *xml = "<ismrmrdHeader/>";
  CHECK_INT_EQ(fmr_header_parse_limited(xml, strlen(xml), "x.h5", &lim, &h, &err), FMR_EXML);
  CHECK_STR_EQ(err.msg, "x.h5: ISMRMRD header is 16 bytes, more than the 10-byte limit "
                        "(limits.header_bytes)");
  lim.header_bytes = 16;
  CHECK_INT_EQ(fmr_header_parse_limited(xml, strlen(xml), "x.h5", &lim, &h, &err), 0);
}

int main(void) {
  test_limit();
  test_knee();
  test_sparse();
  test_echo_train_length();
  test_namespaces_and_repeats();
  test_strings();
  test_numbers();
  test_hostile();
  return fmr_test_end();
}
