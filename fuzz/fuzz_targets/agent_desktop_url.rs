//! Agent Desktop URL parsing and diagnosis: no panic; what parses rebuilds to
//! the same URL's parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servicenow_openframe::{AgentDesktopUrl, instance_origin, tenant_origin};

fuzz_target!(|input: &str| {
    let tenant = tenant_origin("example").unwrap();
    let instance = instance_origin("dev12345").unwrap();
    let _ = AgentDesktopUrl::check(input, &tenant, &instance);
    if let Ok(url) = AgentDesktopUrl::parse(input) {
        let again = AgentDesktopUrl::parse(url.as_str()).expect("a parsed URL parses again");
        assert_eq!(again.top_domain(), url.top_domain());
        assert_eq!(again.tenant(), url.tenant());
    }
});
