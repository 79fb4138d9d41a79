//! The spec parser under mutation, on stable Rust (the same body as the cargo-fuzz target
//! `fuzz/fuzz_targets/spec_parse.rs`): byte flips, insertions, deletions and splices of the
//! seed spec. Any panic fails the test. `REPLAUDIT_FUZZ_SECS=N cargo test --release --test
//! spec_fuzz -- --ignored` runs the long version and prints how many inputs it tried.

use proptest::prelude::*;

const SEED: &str = include_str!("../checks/seed.toml");

fn mutate(seed: &[u8], ops: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(op, at, byte) in ops {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let i = at % v.len();
        match op % 5 {
            0 => v[i] = byte,
            1 => v.insert(i, byte),
            2 => {
                v.remove(i);
            }
            3 => {
                // Duplicate a line-sized chunk: duplicate keys and tables.
                let end = (i + 40).min(v.len());
                let chunk = v[i..end].to_vec();
                v.splice(i..i, chunk);
            }
            _ => v.truncate(i),
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn mutated_specs_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..8)) {
        replaudit::spec::fuzz_one(&mutate(SEED.as_bytes(), &ops));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        replaudit::spec::fuzz_one(text.as_bytes());
    }
}

#[test]
#[ignore]
fn mutation_fuzz_loop() {
    let secs: u64 = std::env::var("REPLAUDIT_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut n: u64 = 0;
    let mut state: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while std::time::Instant::now() < deadline {
        for _ in 0..1000 {
            let k = (next() % 6 + 1) as usize;
            let ops: Vec<(u8, usize, u8)> = (0..k)
                .map(|_| (next() as u8, next() as usize, next() as u8))
                .collect();
            replaudit::spec::fuzz_one(&mutate(SEED.as_bytes(), &ops));
            n += 1;
        }
    }
    println!("spec fuzz: {n} inputs in {secs} s, no panic");
}
