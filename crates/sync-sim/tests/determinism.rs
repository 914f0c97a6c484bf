//! The same seed gives the same trace. (Seeds with crashes, restores, faults and people's
//! edits; see the crate documentation for the one rare source of difference left.)

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [2, 3, 4] {
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
