//! Cross-crate tests of the workspace live in `tests/`; this library is empty. Run them with
//! `cargo test -p ticket-tests` (all providers) or with one feature set, e.g.
//! `cargo test -p ticket-tests --no-default-features --features provider-asana`.
