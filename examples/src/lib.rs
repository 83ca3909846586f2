//! Runnable examples of the SDK and the `bp-servicenow` command-line tool.
//!
//! The binaries live in `src/bin/`; this library only holds what they share.
