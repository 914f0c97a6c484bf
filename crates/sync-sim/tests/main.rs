//! The simulation's tests: determinism, a run of seeds, and the seeds kept as regressions.

mod determinism;
mod regressions;
