//! cargo fuzz run snapshot_parse — the snapshot reader (`audit --snapshot`) on arbitrary bytes.
//! Needs nightly; `tests/spec_fuzz.rs` runs the same body on stable
//! (`replaudit::snapshot::Snapshot::fuzz_one`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replaudit::snapshot::Snapshot::fuzz_one(data);
});
