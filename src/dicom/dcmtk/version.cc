// The DCMTK version for the manifest, behind a C signature so C code never includes DCMTK headers.
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"

extern "C" const char *fmr__dcmtk_version(void);

extern "C" const char *fmr__dcmtk_version(void) { return OFFIS_DCMTK_VERSION_STRING; }
