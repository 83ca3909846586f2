//! A typed async client for a Bright Pattern Contact Center tenant.
//!
//! This crate shares its transport, retry policy, error type and OAuth token cache
//! with `servicenow-client`, through `bpsn-core`.
//!
//! # Layout (planned; filled in by the Bright Pattern client work)
//!
//! | module | what it will hold |
//! |---|---|
//! | `tenant` | `TenantUrl`: a bare tenant name or a full https origin |
//! | `auth` | OAuth 2.0 client credentials against `/configapi/v2/oauth/token`, `expires_in` as a string |
//! | `users`, `teams` | the documented Configuration API objects |
//! | `integration_accounts` | ServiceNow integration accounts: CRUD, request refresh token, test connection |
//! | `fake` | a stateful fake tenant for tests (feature `fake`) |
