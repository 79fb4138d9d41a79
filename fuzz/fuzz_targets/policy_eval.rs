//! Arbitrary bytes as a policy, evaluated in every role a policy can play.
//! The body lives in `replaudit::policy::fuzzing` so that it also runs on stable Rust
//! (proptest in `tests/policy_props.rs`); this target needs `cargo +nightly fuzz run policy_eval`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = replaudit::policy::fuzzing::policy_eval(data) {
        panic!("invariant broken: {e}");
    }
});
