//! cargo fuzz run spec_parse — the posture spec parser and validator on arbitrary bytes.
//! Needs nightly; `tests/spec_fuzz.rs` runs the same body on stable (`replaudit::spec::fuzz_one`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replaudit::spec::fuzz_one(data);
});
