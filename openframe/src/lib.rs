//! The OpenFrame configuration model for embedding Bright Pattern Agent Desktop in
//! ServiceNow: no HTTP, only values and their validation.
//!
//! # Layout (planned; filled in by the OpenFrame model work)
//!
//! | module | what it will hold |
//! |---|---|
//! | `url` | `AgentDesktopUrl`: tenant origin + entry path + `topDomain` (the instance origin), parsed back with diagnostics |
//! | `size` | `Size`: width × height, the vendor's default 373 × 300 |
//! | `settings` | `OpenFrameSettings`: name, title, subtitle, URL, size, order, flags; validation reporting every problem |
//! | `origins` | the origins a configuration implies (CORS rule, postMessage allow-list) |
