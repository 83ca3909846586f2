//! Property tests: the URL builder and parser round trip, and validation reports
//! every problem.

use proptest::prelude::*;
use servicenow_openframe::{
    AgentDesktopUrl, OpenFrameSettings, Origin, SettingsProblem, Size, UrlProblem, instance_origin,
    tenant_origin,
};

/// A DNS label; never one with `--` in its third and fourth places, which
/// marks an internationalised (punycode) label that must decode (`xn--9t8` does not).
fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,20}[a-z0-9]".prop_filter("reserved for punycode labels", |l| {
        l.get(2..4) != Some("--")
    })
}

fn origin(default_domain: &'static str) -> impl Strategy<Value = Origin> {
    prop_oneof![
        label().prop_map(move |n| Origin::parse_or_expand(&n, default_domain).unwrap()),
        (label(), label(), prop::option::of(1u16..65535)).prop_map(|(a, b, port)| {
            let text = match port {
                Some(p) if p != 443 => format!("https://{a}.{b}.example:{p}"),
                _ => format!("https://{a}.{b}.example"),
            };
            Origin::parse(&text).unwrap()
        }),
    ]
}

fn entry_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/agentdesktop/".to_owned()),
        "/[a-z]{1,10}/[a-z]{0,10}(\\.html)?",
        "/[a-z]{1,8}/\\?[a-z]{1,5}=[a-z0-9 %&]{0,10}",
    ]
}

proptest! {
    #[test]
    fn built_urls_parse_back_to_the_same_parts(
        tenant in origin("brightpattern.com"),
        instance in origin("service-now.com"),
        path in entry_path(),
    ) {
        let Ok(url) = AgentDesktopUrl::with_entry_path(&tenant, &instance, &path) else {
            // Only a path the builder refuses may fail.
            return Err(TestCaseError::reject("entry path refused"));
        };
        let parsed = AgentDesktopUrl::parse(url.as_str()).unwrap();
        prop_assert_eq!(&parsed, &url);
        prop_assert_eq!(parsed.top_domain(), &instance);
        prop_assert_eq!(parsed.tenant(), &tenant);
        prop_assert!(AgentDesktopUrl::check(url.as_str(), &tenant, &instance).is_empty());
        // topDomain is the origin exactly: no path, no trailing slash.
        let top = url.url().query_pairs().find(|(k, _)| k == "topDomain").unwrap().1.into_owned();
        prop_assert_eq!(top.as_str(), instance.as_str());
        prop_assert!(!top.ends_with('/'));
    }

    #[test]
    fn another_instance_is_always_reported(
        tenant in origin("brightpattern.com"),
        a in label(),
        b in label(),
    ) {
        prop_assume!(a != b);
        let ours = instance_origin(&a).unwrap();
        let theirs = instance_origin(&b).unwrap();
        let url = AgentDesktopUrl::new(&tenant, &theirs).unwrap();
        let problems = AgentDesktopUrl::check(url.as_str(), &tenant, &ours);
        let mismatch = matches!(problems.as_slice(), [UrlProblem::TopDomainMismatch { .. }]);
        prop_assert!(mismatch, "{:?}", problems);
    }

    #[test]
    fn validation_reports_every_problem_at_once(
        empty_name in any::<bool>(),
        long_title in any::<bool>(),
        long_subtitle in any::<bool>(),
        title_len in 257usize..400,
        width in 50u32..=4096,
        height in 50u32..=4096,
        order in prop_oneof![any::<i64>(), any::<i32>().prop_map(i64::from)],
    ) {
        let url = AgentDesktopUrl::new(&tenant_origin("example").unwrap(), &instance_origin("dev1").unwrap()).unwrap();
        let mut s = OpenFrameSettings::new(if empty_name { "" } else { "Bright Pattern" }, url);
        s.size = Size::new(width, height).unwrap();
        s.order = order;
        if long_title { s.title = "t".repeat(title_len); }
        if long_subtitle { s.subtitle = "s".repeat(title_len); }
        let order_out_of_range = i32::try_from(order).is_err();
        let expected = usize::from(empty_name)
            + usize::from(long_title)
            + usize::from(long_subtitle)
            + usize::from(order_out_of_range);
        match s.validate() {
            Ok(()) => prop_assert_eq!(expected, 0),
            Err(problems) => {
                prop_assert_eq!(problems.len(), expected);
                prop_assert_eq!(problems.0.contains(&SettingsProblem::EmptyName), empty_name);
                prop_assert_eq!(
                    problems.0.contains(&SettingsProblem::OrderOutOfRange { order }),
                    order_out_of_range
                );
            }
        }
    }

    #[test]
    fn sizes_in_bounds_are_accepted_and_others_refused(w in 0u32..6000, h in 0u32..6000) {
        let inside = |v: u32| (Size::MIN..=Size::MAX).contains(&v);
        prop_assert_eq!(Size::new(w, h).is_ok(), inside(w) && inside(h));
    }
}
