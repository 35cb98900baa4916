#!/usr/bin/env bash
# Validates the Kubernetes manifests offline, without a cluster:
#
#   1. renders every overlay (k8s/overlays/*) with `kubectl kustomize`;
#   2. checks every rendered object against the Kubernetes OpenAPI schemas
#      shipped in the `kubernetes-validate` Python package (--strict: unknown
#      fields are errors) for one Kubernetes version;
#   3. runs `checkov --framework kubernetes` on the rendered objects and
#      requires zero failed checks; every skipped check must carry a reason
#      (a `checkov.io/skipN: CKV_K8S_xx=reason` annotation in the manifests);
#   4. renders each optional component (k8s/components/*) on top of the local
#      overlay and checks its schemas, and runs checkov on the Dockerfile.
#
# Usage: k8s/validate.sh [OVERLAY...]     (default: every overlay)
# Environment:
#   K8S_VERSION   Kubernetes version to validate against (default 1.32.0)
#   KUBECTL       kubectl binary (default kubectl)
#   PYTHON        Python interpreter (default python3)
# Installs the two Python packages with pip when they are missing.
# Exits non-zero on any failure.

set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.32.0}"
KUBECTL="${KUBECTL:-kubectl}"
PYTHON="${PYTHON:-python3}"
# The versions this script was last run with; used only when installing.
KUBERNETES_VALIDATE_PIN="kubernetes-validate==1.37.0"
CHECKOV_PIN="checkov==3.3.30"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
now() { "$PYTHON" -c 'import time; print(f"{time.time():.1f}")'; }
elapsed() { "$PYTHON" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$(now)"; }

die() {
    echo "validate.sh: $*" >&2
    exit 1
}

command -v "$KUBECTL" >/dev/null || die "$KUBECTL not found (kubectl with built-in kustomize is needed)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

now() { "$PYTHON" -c 'import time; print(f"{time.time():.1f}")'; }
elapsed() { "$PYTHON" -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }
start=$(now)

have_module() { "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' "$1"; }
missing=()
have_module kubernetes_validate || missing+=("$KUBERNETES_VALIDATE_PIN")
have_module checkov || missing+=("$CHECKOV_PIN")
if ((${#missing[@]})); then
    echo "installing ${missing[*]} ..."
    "$PYTHON" -m pip install --quiet "${missing[@]}"
    echo "installed in $(elapsed "$start") s"
fi
checks_start=$(now)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if (($#)); then
    overlays=("$@")
else
    overlays=()
    for d in "$here"/overlays/*/; do overlays+=("$(basename "$d")"); done
fi

failures=0
summary=()

# Relative path from $2 to $1 (kustomize wants relative resource paths).
rel() { "$PYTHON" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$2"; }

# Schema validation of one rendered file; prints the number of objects.
schemas() {
    local file="$1" log="$2"
    if ! "$PYTHON" -m kubernetes_validate --strict -k "$K8S_VERSION" "$file" >"$log" 2>&1; then
        grep -v ' passed for resource ' "$log" >&2 || true
        return 1
    fi
    grep -c ' passed for resource ' "$log" || true
}

# checkov on one file; prints "passed failed skipped", lists failures and
# skips without a reason on stderr, and fails if there are any.
checkov_run() {
    local framework="$1" file="$2" json="$3"
    "$PYTHON" -m checkov.main --framework "$framework" -f "$file" --skip-download \
        --compact -o json >"$json" 2>"$json.err" || true
    "$PYTHON" - "$json" "$json.err" <<'PY'
import json, sys
path, err = sys.argv[1], sys.argv[2]
try:
    data = json.load(open(path))
except ValueError:
    sys.stderr.write(open(err).read())
    sys.stderr.write(open(path).read())
    sys.exit("checkov produced no JSON report")
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = errors = 0
bad = False
for report in reports:
    if "summary" not in report:
        continue
    s = report["summary"]
    passed += s["passed"]; failed += s["failed"]; skipped += s["skipped"]
    errors += s.get("parsing_errors", 0)
    for c in report["results"]["failed_checks"]:
        print(f"  FAILED {c['check_id']} {c['resource']}: {c['check_name']}", file=sys.stderr)
        bad = True
    for c in report["results"]["skipped_checks"]:
        reason = (c.get("check_result") or {}).get("suppress_comment") or ""
        if not reason.strip() or reason.strip() == "No comment provided":
            print(f"  SKIPPED WITHOUT A REASON {c['check_id']} {c['resource']}", file=sys.stderr)
            bad = True
if passed + failed + skipped == 0:
    sys.exit("checkov ran no check")
if errors:
    print(f"  {errors} parsing error(s)", file=sys.stderr)
    bad = True
print(passed, failed, skipped)
sys.exit(1 if bad or failed else 0)
PY
}

for overlay in "${overlays[@]}"; do
    dir="$here/overlays/$overlay"
    [[ -d "$dir" ]] || die "no overlay $dir"
    out="$work/$overlay.yaml"
    if ! "$KUBECTL" kustomize "$dir" >"$out"; then
        summary+=("$overlay: kustomize FAILED")
        failures=$((failures + 1))
        continue
    fi
    if n=$(schemas "$out" "$work/$overlay.schemas.log"); then
        schema_result="$n objects valid against Kubernetes $K8S_VERSION (strict)"
    else
        schema_result="schema validation FAILED"
        failures=$((failures + 1))
    fi
    if counts=$(checkov_run kubernetes "$out" "$work/$overlay.checkov.json"); then
        read -r p f s <<<"$counts"
        checkov_result="checkov passed $p, failed $f, skipped $s"
    else
        read -r p f s <<<"${counts:-? ? ?}"
        checkov_result="checkov FAILED (passed $p, failed $f, skipped $s)"
        failures=$((failures + 1))
    fi
    summary+=("$overlay: $schema_result; $checkov_result")
done

# Optional components, each on top of the local overlay: schemas only (they
# change nothing checkov looks at beyond what the overlays already cover).
if [[ -d "$here/overlays/local" ]]; then
    for comp in "$here"/components/*/; do
        [[ -d "$comp" ]] || continue
        name="$(basename "$comp")"
        cdir="$work/component-$name"
        mkdir -p "$cdir"
        cat >"$cdir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(rel "$here/overlays/local" "$cdir")]
components: [$(rel "$comp" "$cdir")]
EOF
        if "$KUBECTL" kustomize "$cdir" >"$cdir/out.yaml" &&
            n=$(schemas "$cdir/out.yaml" "$cdir/schemas.log"); then
            summary+=("component $name (on local): $n objects valid")
        else
            summary+=("component $name (on local): FAILED")
            failures=$((failures + 1))
        fi
    done
fi

if [[ -f "$repo/Dockerfile" ]]; then
    if counts=$(checkov_run dockerfile "$repo/Dockerfile" "$work/dockerfile.checkov.json"); then
        read -r p f s <<<"$counts"
        summary+=("Dockerfile: checkov passed $p, failed $f, skipped $s")
    else
        summary+=("Dockerfile: checkov FAILED")
        failures=$((failures + 1))
    fi
fi

echo "== k8s validation summary =="
printf '  %s\n' "${summary[@]}"
echo "  took $(elapsed "$checks_start") s (checks), $(elapsed "$start") s in all"
if ((failures)); then
    echo "FAILED: $failures problem(s)" >&2
    exit 1
fi
echo "OK"
