//! Fuzz harness for ackscope. The logic lives in `harness.rs` so that the main crate's
//! `tests/fuzz_corpus.rs` can include the very same file (`#[path]`) and replay the corpora
//! through the same code paths without libFuzzer.

pub mod harness;
