//! The kernel module compiles the protocol core from the same files, with
//! its own list of modules (`rust/af_custom_main.rs`); this test keeps the
//! two lists equal, so a new core file cannot be forgotten by the module.

use std::collections::BTreeSet;

fn mods(text: &str, prefix: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn kernel_module_compiles_every_core_file() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../");
    let lib = std::fs::read_to_string(format!("{root}proto/src/lib.rs")).unwrap();
    let main = std::fs::read_to_string(format!("{root}af_custom_main.rs")).unwrap();
    let host = mods(&lib, "pub mod ");
    let kernel = mods(&main, "pub(crate) mod ");
    assert!(!host.is_empty());
    assert_eq!(
        host, kernel,
        "rust/af_custom_main.rs `mod proto` must list every module of rust/proto/src/lib.rs"
    );
}
