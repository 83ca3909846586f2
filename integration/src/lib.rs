//! The whole Bright Pattern ↔ ServiceNow OpenFrame setup as a declarative,
//! idempotent workflow: plan, apply, verify, teardown.
//!
//! # Layout (planned; filled in by the workflow work)
//!
//! | module | what it will hold |
//! |---|---|
//! | `spec` | `IntegrationSpec`: what should exist, loaded from TOML and validated |
//! | `step` | the one `Step` trait every step implements: observe, diff, apply, verify, undo |
//! | `steps::*` | one module per step: plugins, OpenFrame configuration, role grants, CORS rule, OAuth endpoint, integration account |
//! | `workflow` | ordering, concurrency, progress events, reports |
