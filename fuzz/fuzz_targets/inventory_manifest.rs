//! cargo fuzz run inventory_manifest — the S3 Inventory manifest.json reader on arbitrary
//! bytes. Needs nightly; `tests/spec_fuzz.rs` runs the same body on stable
//! (`replaudit::reconcile::inventory::fuzz_manifest`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replaudit::reconcile::inventory::fuzz_manifest(data);
});
