#!/usr/bin/env bash
# ctest "valgrind.run" (label valgrind): a single-rank `fastmri-regen run` of a small synthetic
# dataset (3 volumes of 2 x 2 x 32 x 24, boxes, a study-level row, and the knee list's
# "Knee data" line) under valgrind memcheck. Fails on any invalid access or use of uninitialised
# memory, and on any definite leak outside Open MPI (tests/valgrind.supp).
#   tests/valgrind.sh FASTMRI_REGEN SOURCE_DIR WORK_DIR
set -euo pipefail
bin=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cd "$work"
printf 'file1000001\nfile1000002\nfile1000003\nKnee data\n' > list.csv
printf 'file,slice,study_level,x,y,width,height,label\n%s\n%s\n%s\n%s\n' \
  'file1000001,1,No,2,3,5,4,Meniscus Tear' 'file1000001,0,Yes,,,,,Joint Effusion ' \
  'file1000002,0,No,0,0,8,8,Bone-Fracture' 'file1000002,1,No,10,-1,0,20,Bone-Fracture' > knee.csv
"$bin" synth --out in --list list.csv --size 32x24 --frame 16x16 --slices 2 --coils 2 >/dev/null
cat > run.yaml <<'YAML'
anatomy: knee
input:
  dirs: [in]
  file_list: list.csv
  annotations: knee.csv
output:
  dir: out
YAML
rc=0
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --num-callers=40 --suppressions="$src/tests/valgrind.supp" \
  --log-file=valgrind.log "$bin" run run.yaml >run.out 2>&1 || rc=$?
grep -E "ERROR SUMMARY|definitely lost" valgrind.log | head -3
if [ "$rc" != 0 ]; then
  echo "valgrind.run: status $rc (99: valgrind found errors); first reports:"
  grep -v "^==[0-9]*== *$" valgrind.log | grep -A25 -m3 -E "Invalid|uninitialised|definitely lost in" | head -80
  tail -5 run.out
  exit 1
fi
# The run itself did its work: three volumes ok in the manifest (read with Python's json).
/usr/bin/python3 - <<'PY'
import json, sys
m = json.load(open("out/manifest.json"))
vols = m["volumes"] if isinstance(m["volumes"], list) else list(m["volumes"].values())
ok = [v for v in vols if v.get("status") == "ok"]
print(f"valgrind.run: {len(ok)} of {len(vols)} volumes ok, no memcheck error")
sys.exit(0 if len(ok) == 3 else 1)
PY
