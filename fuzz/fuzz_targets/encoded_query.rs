//! The encoded-query builder fed arbitrary field/value strings: a built query
//! never holds a separator the caller did not ask for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servicenow_client::query::{Operator, Query};

fuzz_target!(|input: (Vec<(String, String, u8, u8)>, Option<String>)| {
    let (conditions, order) = input;
    let mut q = Query::new();
    let mut terms = 0usize;
    for (field, value, op, join) in &conditions {
        match join % 3 {
            1 => q = q.or(),
            2 => q = q.new_query(),
            _ => {}
        }
        let op = Operator::ALL[usize::from(*op) % Operator::ALL.len()];
        q = if op == Operator::In {
            q.is_in(field.as_str(), value.split(';'))
        } else {
            q.condition(field.as_str(), op, value.as_str())
        };
        terms += 1;
    }
    if let Some(field) = &order {
        q = q.order_by(field.as_str());
        terms += 1;
    }
    if let Ok(encoded) = q.build() {
        let text = encoded.as_str();
        // One `^` between terms, nothing more: no value or field smuggled a separator in.
        assert_eq!(text.matches('^').count(), terms.saturating_sub(1), "{text:?}");
        assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
    }
});
