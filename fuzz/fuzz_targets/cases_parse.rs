//! cargo fuzz run cases_parse — the policy-case file reader (`simulate --cases`) on arbitrary
//! bytes. Needs nightly; `tests/spec_fuzz.rs` runs the same body on stable
//! (`replaudit::policy::cases::fuzz_one`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replaudit::policy::cases::fuzz_one(data);
});
