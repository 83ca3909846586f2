//! Runnable examples of the SDK and the `bp-servicenow` command-line tool.
//!
//! The binaries live in `src/bin/`; this library only holds what they share. The
//! workspace README's examples are compiled as doctests of this crate, so the
//! README cannot drift from the API.

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
