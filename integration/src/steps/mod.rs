//! One module per step of the procedure, each implementing [`Step`](crate::Step).

pub mod access;
pub mod cors;
pub mod integration_account;
pub mod oauth_endpoint;
pub mod openframe;
pub mod plugins;
pub mod properties;
pub mod store_app;
