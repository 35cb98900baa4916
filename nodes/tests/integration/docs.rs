//! `docs/ARCHITECTURE.md` names files that exist; the Kubernetes catalog
//! is the built-in one.

use std::path::Path;

#[test]
fn every_path_in_the_architecture_page_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("read");
    let paths: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.starts_with("../") && !s.contains(' '))
        .filter(|s| s.ends_with(".rs") || s.ends_with(".md") || s.ends_with('/'))
        .filter(|s| s.contains('/'))
        .collect();
    assert!(paths.len() > 30, "the page names files: {paths:?}");
    let missing: Vec<&&str> = paths.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(missing.is_empty(), "named but missing: {missing:?}");
}

#[test]
fn the_kubernetes_catalog_is_the_built_in_one() {
    use kukka_actors::order::catalog::Catalog;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("k8s/base/config/catalog.json")).expect("read");
    let catalog = Catalog::from_json(&text).expect("a valid catalog");
    assert_eq!(catalog, Catalog::builtin(), "k8s/base/config/catalog.json");
}
