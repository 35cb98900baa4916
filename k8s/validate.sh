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
#      overlay and checks its schemas, and runs checkov on the Dockerfile;
#   5. in every rendering, checks what monitoring objects it holds: the
#      PrometheusRules' groups with `promtool check rules` (and the unit tests
#      in <component>/tests/*.test.yaml with `promtool test rules`), each
#      Grafana dashboard (ConfigMaps labelled grafana_dashboard: "1"): its
#      JSON parses, every panel has a query, and every query parses as
#      PromQL (promtool again); PodMonitor and PrometheusRule fields against
#      the Prometheus Operator's (kubernetes-validate has no schema for
#      them); and that every namespaced object has a namespace.
#
# Usage: k8s/validate.sh [OVERLAY...]     (default: every overlay)
# Environment:
#   K8S_VERSION   Kubernetes version to validate against (default 1.32.0)
#   KUBECTL       kubectl binary (default kubectl)
#   PYTHON        Python interpreter (default python3)
#   PROMTOOL      promtool binary (default promtool; Debian/Ubuntu package
#                 `prometheus`)
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
PROMTOOL="${PROMTOOL:-promtool}"
command -v "$PROMTOOL" >/dev/null || die "$PROMTOOL not found (Debian/Ubuntu: apt-get install prometheus)"

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

# The local overlay's secrets are written, not committed (random values).
[ -f "$here/overlays/local/secrets.env" ] || bash "$here/overlays/local/make-secrets.sh" >/dev/null

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

# Step 5 on one rendered file: extracts rules and dashboard queries into
# $dir, checks them with promtool, runs the unit tests of $tests_dir if given.
# Prints a summary ("" when the rendering holds no monitoring objects).
monitoring_checks() {
    local file="$1" dir="$2" tests_dir="${3:-}"
    mkdir -p "$dir"
    local found
    found=$("$PYTHON" - "$file" "$dir" <<'PY'
import json, re, sys
import yaml

path, out = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
bad = []

# Namespaced objects without a namespace would land in whatever namespace
# kubectl points at (components are not under the base's `namespace:`).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
for d in docs:
    if d.get("kind") not in CLUSTER_SCOPED and not d.get("metadata", {}).get("namespace"):
        bad.append(f"{d.get('kind')}/{d.get('metadata', {}).get('name')} has no namespace")

# Fields of the Prometheus Operator CRDs (monitoring.coreos.com/v1, operator
# 0.7x), for the kinds kubernetes-validate cannot check.
def only(obj, allowed, where):
    for k in obj:
        if k not in allowed:
            bad.append(f"{where}: unknown field {k!r}")
RELABEL = {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"}
ENDPOINT = {"port", "portNumber", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
            "honorLabels", "honorTimestamps", "trackTimestampsStaleness", "metricRelabelings",
            "relabelings", "proxyUrl", "followRedirects", "enableHttp2", "filterRunning",
            "basicAuth", "oauth2", "authorization", "bearerTokenSecret", "tlsConfig"}
PODMONITOR = {"selector", "namespaceSelector", "podMetricsEndpoints", "jobLabel", "podTargetLabels",
              "sampleLimit", "targetLimit", "labelLimit", "labelNameLengthLimit",
              "labelValueLengthLimit", "keepDroppedTargets", "attachMetadata", "scrapeProtocols",
              "scrapeClass", "bodySizeLimit", "fallbackScrapeProtocol", "selectorMechanism"}
GROUP = {"name", "interval", "rules", "limit", "partial_response_strategy", "query_offset", "labels"}

groups = []
for d in docs:
    kind, name = d.get("kind"), d.get("metadata", {}).get("name")
    where = f"{kind}/{name}"
    if kind == "PrometheusRule":
        if d.get("apiVersion") != "monitoring.coreos.com/v1":
            bad.append(f"{where}: apiVersion {d.get('apiVersion')}")
        only(d.get("spec", {}), {"groups"}, where + " spec")
        for g in d.get("spec", {}).get("groups", []):
            only(g, GROUP, f"{where} group {g.get('name')}")
            groups.append(g)
    elif kind == "PodMonitor":
        if d.get("apiVersion") != "monitoring.coreos.com/v1":
            bad.append(f"{where}: apiVersion {d.get('apiVersion')}")
        spec = d.get("spec", {})
        only(spec, PODMONITOR, where + " spec")
        if not spec.get("selector"):
            bad.append(f"{where}: no selector")
        for i, e in enumerate(spec.get("podMetricsEndpoints", [])):
            only(e, ENDPOINT, f"{where} endpoint {i}")
            for r in e.get("relabelings", []) + e.get("metricRelabelings", []):
                only(r, RELABEL, f"{where} endpoint {i} relabeling")

# Grafana dashboards: every panel (rows' nested ones too) has a query, and
# every query parses (as a recording rule, with Grafana's variables filled in).
def grafana_vars(expr):
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    expr = re.sub(r"\$\{__(rate_interval|interval|range)\}", "5m", expr)
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", "x", expr)

dashboards = panels_seen = 0
queries = []
for d in docs:
    labels = d.get("metadata", {}).get("labels", {}) or {}
    if d.get("kind") != "ConfigMap" or str(labels.get("grafana_dashboard")) != "1":
        continue
    for key, text in (d.get("data") or {}).items():
        where = f"ConfigMap/{d['metadata']['name']} {key}"
        try:
            dash = json.loads(text)
        except ValueError as e:
            bad.append(f"{where}: not JSON: {e}")
            continue
        dashboards += 1
        for field in ("title", "uid", "panels"):
            if not dash.get(field):
                bad.append(f"{where}: no {field}")
        ids = set()
        def walk(panels):
            global panels_seen
            for p in panels:
                title = p.get("title", "?")
                if p.get("id") in ids:
                    bad.append(f"{where}: panel id {p.get('id')} used twice")
                ids.add(p.get("id"))
                if "gridPos" not in p:
                    bad.append(f"{where}: panel {title!r} has no gridPos")
                if p.get("type") == "row":
                    walk(p.get("panels", []))
                    continue
                panels_seen += 1
                exprs = [t.get("expr", "").strip() for t in p.get("targets", [])]
                if not exprs or not all(exprs):
                    bad.append(f"{where}: panel {title!r} has a missing or empty query")
                for e in exprs:
                    if e:
                        queries.append(grafana_vars(e))
        walk(dash.get("panels", []))

if groups:
    yaml.safe_dump({"groups": groups}, open(f"{out}/rules.yaml", "w"), sort_keys=False)
if queries:
    rules = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]},
                   open(f"{out}/dashboard-queries.yaml", "w"), sort_keys=False)
for b in bad:
    print("  " + b, file=sys.stderr)
parts = []
if groups:
    parts.append(f"{sum(len(g.get('rules', [])) for g in groups)} rules in {len(groups)} groups")
if dashboards:
    parts.append(f"{dashboards} dashboard(s), {panels_seen} panels, {len(queries)} queries")
print(", ".join(parts))
sys.exit(1 if bad else 0)
PY
    ) || return 1
    [[ -n "$found" ]] || return 0
    local f
    for f in "$dir/rules.yaml" "$dir/dashboard-queries.yaml"; do
        [[ -f "$f" ]] || continue
        if ! "$PROMTOOL" check rules "$f" >"$f.log" 2>&1; then
            cat "$f.log" >&2
            return 1
        fi
    done
    local tests=0
    if [[ -n "$tests_dir" && -d "$tests_dir" && -f "$dir/rules.yaml" ]]; then
        for f in "$tests_dir"/*.test.yaml; do
            [[ -f "$f" ]] || continue
            cp "$f" "$dir/"
            if ! (cd "$dir" && "$PROMTOOL" test rules "$(basename "$f")") >"$dir/test.log" 2>&1; then
                cat "$dir/test.log" >&2
                return 1
            fi
            tests=$((tests + $(grep -c '^  - name:' "$f" || true)))
        done
    fi
    local passed=""
    ((tests == 0)) || passed=", $tests rule unit tests pass"
    echo "$found; promtool check rules OK$passed"
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
    if monitoring=$(monitoring_checks "$out" "$work/$overlay.monitoring"); then
        [[ -z "$monitoring" ]] || summary+=("$overlay monitoring: $monitoring")
    else
        summary+=("$overlay monitoring: FAILED")
        failures=$((failures + 1))
    fi
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
            continue
        fi
        if monitoring=$(monitoring_checks "$cdir/out.yaml" "$cdir/monitoring" "$comp/tests"); then
            [[ -z "$monitoring" ]] || summary+=("component $name monitoring: $monitoring")
        else
            summary+=("component $name monitoring: FAILED")
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
