//! Time-budgeted fuzzing of parsers of outside data, on stable Rust (cargo-fuzz needs a
//! nightly toolchain): proptest strategies run until a budget of wall time is spent.
//!
//! The budget is `YUNWEI_FUZZ_SECS` seconds per target; without it 30 s under `CI=true` (or
//! `CI=1`) and 3 s otherwise. Longer runs: `YUNWEI_FUZZ_SECS=600 cargo test --test <target>`.

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The wall time each fuzz target runs for.
pub fn budget() -> Duration {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    Duration::from_secs(
        std::env::var("YUNWEI_FUZZ_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if ci { 30 } else { 3 }),
    )
}

/// Run `check` on values of `strategy` until the [`budget`] is spent; panic with the shrunk
/// failing input if a check fails or panics. Prints how many inputs were tried.
pub fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let deadline = Instant::now() + budget();
    let mut cases = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("{name}: {e}");
        }
        cases += 256;
    }
    eprintln!("{name}: {cases} inputs in {:?}", budget());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "always-fails")]
    fn a_failing_check_panics_with_the_target_name() {
        fuzz("always-fails", 0u8..10, |v| {
            if v < 100 {
                Err(TestCaseError::fail("bad"))
            } else {
                Ok(())
            }
        });
    }
}
