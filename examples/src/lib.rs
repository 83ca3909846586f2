//! The `bp-servicenow` command-line tool, its built-in demo, and runnable examples
//! of the SDK (in `src/bin/`).
//!
//! The workspace README's examples are compiled as doctests of this crate, so the
//! README cannot drift from the API.

#![allow(clippy::print_stdout)]

pub mod cli;
pub mod demo;
pub mod output;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
