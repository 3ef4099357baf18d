#!/usr/bin/env bash
# Re-vendor vega, vega-lite and vega-embed from the npm registry at the versions pinned in
# vendor/vega/versions, find what their bundles contain and write its notices (notices.py:
# bundled.json, THIRD_PARTY_NOTICES.md), then rebuild vendor/vega/template.html and
# vendor/vega/SHA256SUMS. Needs npm and python3. `npm pack` downloads a tarball and checks it
# against the registry's integrity hash; notices.py also runs `npm install --ignore-scripts`
# in a temporary folder (no install scripts run) to resolve each pin's dependencies. Run from
# anywhere; then update the versions and hashes in vendor/vega/README.md from what this prints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

while read -r name version extra; do
    case "$name" in ''|'#'*) continue ;; esac
    tarball=$(cd "$work" && npm pack --silent "$name@$version")
    tar -xzf "$work/$tarball" -C "$work" "package/build/$name.min.js"
    mv "$work/package/build/$name.min.js" "$here/$name.min.js"
    echo "$(sha256sum "$work/$tarball" | cut -d' ' -f1)  $tarball  (build/$name.min.js)"
    if tar -tzf "$work/$tarball" package/LICENSE >/dev/null 2>&1; then
        tar -xzf "$work/$tarball" -C "$work" package/LICENSE
    elif [[ "$extra" == license-from=* ]]; then
        license_tarball=$(cd "$work" && npm pack --silent "$name@${extra#license-from=}")
        tar -xzf "$work/$license_tarball" -C "$work" package/LICENSE
        echo "$(sha256sum "$work/$license_tarball" | cut -d' ' -f1)  $license_tarball  (LICENSE)"
    else
        echo "error: $tarball has no package/LICENSE; add license-from=<version> for $name in versions" >&2
        exit 1
    fi
    mv "$work/package/LICENSE" "$here/LICENSE.$name"
    rm -rf "$work/package"
done < "$here/versions"

python3 "$here/notices.py" collect "$work"
python3 "$here/build_template.py"
(cd "$here" && sha256sum -- *.min.js LICENSE.* bundled.json THIRD_PARTY_NOTICES.md template.html > SHA256SUMS)
cat "$here/SHA256SUMS"
du -ch "$here"/*.min.js "$here/template.html" | tail -1
