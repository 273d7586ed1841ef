#!/usr/bin/env bash
# The README's first command: install the Debian packages, build, write a small synthetic
# fastMRI-format dataset named after real fastMRI+ volumes, and run the pipeline on it under mpirun.
#   scripts/demo.sh [--no-install] [--np N]   (default: one rank per core)
# Outputs: demo/out/{knee,brain}/ (DICOM, masks, manifest.json, run-report.json).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
install=1
np=$(nproc) # one rank per core: every rank reconstructs (rank 0 also hands out the work)
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --np) np=$2; shift ;;
    *) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [ "$install" -eq 1 ]; then bash "$here/scripts/install-deps.sh"; fi
BUILD_DIR="$here/build" bash "$here/scripts/build.sh" >/dev/null
bin="$here/build/fastmri-regen"
demo="$here/demo"
rm -rf "$demo"
mkdir -p "$demo/data"

# Knee: real names whose rows show the CSV's quirks (y = -1, boxes ending at 320, exact duplicates,
# zero-size boxes, a study-level label) and one reviewed volume without findings (file1000033).
knee=file1000001,file1001259,file1000143,file1001706,file1002097,file1001022,file1000033
brain=file_brain_AXFLAIR_200_6002425,file_brain_AXT1_202_2020089,file_brain_AXFLAIR_203_6000890,file_brain_AXT1_202_6000306,file_brain_AXFLAIR_200_6002474
# --slices is the minimum: volumes without rows get a realistic slice count too.
"$bin" synth --anatomy knee --out "$demo/data/knee" --names "$knee" --subdirs --slices 34 \
  --slices-from "$here/data/fastmri-plus/knee.csv"
"$bin" synth --anatomy brain --out "$demo/data/brain" --names "$brain" --subdirs --slices 16 \
  --slices-from "$here/data/fastmri-plus/brain.csv"
tr ',' '\n' <<<"$knee" >"$demo/data/knee_file_list.csv"
tr ',' '\n' <<<"$brain" >"$demo/data/brain_file_list.csv"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
for anatomy in knee brain; do
  echo "== $anatomy: mpirun -np $np fastmri-regen run configs/demo-$anatomy.yaml"
  mpirun --oversubscribe -np "$np" "$bin" run "$here/configs/demo-$anatomy.yaml" || status=$?
done
echo
for anatomy in knee brain; do
  python3 - "$demo/out/$anatomy/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["totals"]
print(f"{sys.argv[1]}: {t['volumes']} volumes, {t['ok']} ok, {t['failed']} failed, "
      f"{t['missing']} missing, {t['outputs']} files, {t['bytes'] / 1e6:.1f} MB")
for v in m["volumes"]:
    nmse = v.get("nmse_vs_stored")
    print(f"  {v['name']:34s} {v['status']:7s} slices={v.get('slices')} "
          f"nmse={nmse if nmse is None else f'{nmse:.2e}'} labels={len(v.get('labels', {}))}")
PY
done
exit "$status"
