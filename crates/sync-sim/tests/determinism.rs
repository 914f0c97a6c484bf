//! The same seed gives the same trace.

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [1, 2, 3] {
        let steps = sync_sim::schedule_of(seed);
        let a = sync_sim::run(&steps);
        let b = sync_sim::run(&steps);
        assert!(
            a.trace.len() > steps.len(),
            "seed {seed}: the trace is too short: {a:?}"
        );
        assert_eq!(a, b, "seed {seed}: two runs differ");
    }
}
