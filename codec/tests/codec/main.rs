//! Integration tests of the codec's public API.

mod framing;
mod golden;
mod limits;
mod mini_fuzz;
mod roundtrip;
mod samples;
mod validation;
