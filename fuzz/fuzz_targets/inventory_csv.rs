//! cargo fuzz run inventory_csv — the S3 Inventory CSV row reader (one decompressed data file
//! of the documented fileSchema) on arbitrary bytes. Needs nightly; `tests/spec_fuzz.rs` runs
//! the same body on stable (`replaudit::reconcile::inventory::fuzz_csv`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replaudit::reconcile::inventory::fuzz_csv(data);
});
