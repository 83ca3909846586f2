//! Instance and tenant URL parsing: no panic, and what is accepted is an origin
//! that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(instance) = servicenow_client::InstanceUrl::parse(input) {
        let again = servicenow_client::InstanceUrl::parse(instance.as_str()).expect("an accepted origin parses again");
        assert_eq!(again, instance);
        assert!(!instance.as_str().ends_with('/'));
        assert!(instance.as_str().starts_with("https://") || instance.origin().is_loopback());
    }
    if let Ok(tenant) = brightpattern_client::TenantUrl::parse(input) {
        assert_eq!(brightpattern_client::TenantUrl::parse(tenant.as_str()).expect("parses again"), tenant);
    }
});
