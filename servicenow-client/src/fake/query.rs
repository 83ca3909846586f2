//! Evaluation of encoded queries, as the fake instance reads them.
//!
//! Grammar: or-blocks separated by `^NQ`; inside a block, terms separated by `^`;
//! a term starting with `OR` joins the one before it (OR binds tighter than AND);
//! `ORDERBY<field>` / `ORDERBYDESC<field>` sort. A condition is a field name
//! (`[a-z0-9_.]`), an operator and a value.

use std::cmp::Ordering;

use crate::query::Operator;

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) field: String,
    pub(crate) op: Operator,
    pub(crate) value: String,
}

/// A parsed query: blocks of and-groups of or-alternatives, and an ordering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParsedQuery {
    /// `blocks[b][g][a]`: block `b` matches when every group `g` has an alternative `a` that matches.
    pub(crate) blocks: Vec<Vec<Vec<Condition>>>,
    pub(crate) order: Vec<(String, bool)>,
}

/// Why a query could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError(pub(crate) String);

pub(crate) fn parse(query: &str) -> Result<ParsedQuery, QueryError> {
    let mut parsed = ParsedQuery::default();
    if query.is_empty() {
        return Ok(parsed);
    }
    for block_text in query.split("^NQ") {
        let mut groups: Vec<Vec<Condition>> = Vec::new();
        for term in block_text.split('^') {
            if term.is_empty() {
                continue;
            }
            if let Some(field) = term.strip_prefix("ORDERBYDESC") {
                parsed.order.push((field.to_owned(), true));
                continue;
            }
            if let Some(field) = term.strip_prefix("ORDERBY") {
                parsed.order.push((field.to_owned(), false));
                continue;
            }
            let (is_or, text) = match term.strip_prefix("OR") {
                Some(rest) if !groups.is_empty() => (true, rest),
                _ => (false, term),
            };
            let condition = parse_condition(text)?;
            match (is_or, groups.last_mut()) {
                (true, Some(group)) => group.push(condition),
                _ => groups.push(vec![condition]),
            }
        }
        if !groups.is_empty() {
            parsed.blocks.push(groups);
        }
    }
    Ok(parsed)
}

fn parse_condition(text: &str) -> Result<Condition, QueryError> {
    let field_len = text
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'.')
        .count();
    if field_len == 0 {
        return Err(QueryError(format!("no field name in {text:?}")));
    }
    let (field, rest) = text.split_at(field_len);
    let op = Operator::ALL
        .into_iter()
        .find(|op| rest.starts_with(op.as_str()))
        .ok_or_else(|| QueryError(format!("no known operator in {text:?}")))?;
    Ok(Condition {
        field: field.to_owned(),
        op,
        value: rest[op.as_str().len()..].to_owned(),
    })
}

/// Whether a condition holds for a field value (`None` when the record has no such value).
pub(crate) fn holds(op: Operator, actual: Option<&str>, expected: &str) -> bool {
    let actual = actual.unwrap_or("");
    match op {
        Operator::Eq => actual == expected,
        Operator::NotEq => actual != expected,
        Operator::Like => actual.contains(expected),
        Operator::NotLike => !actual.contains(expected),
        Operator::StartsWith => actual.starts_with(expected),
        Operator::EndsWith => actual.ends_with(expected),
        Operator::In => expected.split(',').any(|v| v == actual),
        Operator::IsEmpty => actual.is_empty(),
        Operator::IsNotEmpty => !actual.is_empty(),
    }
}

/// Compares two field values for ORDERBY: numerically when both are numbers.
pub(crate) fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_groups_and_ordering() {
        let q =
            parse("active=true^user=a^ORuser=b^NQrole.nameSTARTSWITHsn_^ORDERBYDESCorder").unwrap();
        assert_eq!(q.blocks.len(), 2);
        assert_eq!(q.blocks[0].len(), 2);
        assert_eq!(q.blocks[0][1].len(), 2);
        assert_eq!(q.blocks[1][0][0].field, "role.name");
        assert_eq!(q.blocks[1][0][0].op, Operator::StartsWith);
        assert_eq!(q.order, vec![("order".to_owned(), true)]);
    }

    #[test]
    fn operators_are_read_longest_first() {
        let c = parse_condition("nameNOT LIKEx").unwrap();
        assert_eq!((c.op, c.value.as_str()), (Operator::NotLike, "x"));
        let c = parse_condition("nameISNOTEMPTY").unwrap();
        assert_eq!(c.op, Operator::IsNotEmpty);
        let c = parse_condition("a!=b").unwrap();
        assert_eq!(c.op, Operator::NotEq);
        assert!(parse_condition("=x").is_err());
        assert!(parse_condition("name~x").is_err());
    }

    #[test]
    fn conditions_hold_as_servicenow_evaluates_them() {
        assert!(holds(Operator::In, Some("b"), "a,b"));
        assert!(!holds(Operator::In, Some("c"), "a,b"));
        assert!(holds(Operator::IsEmpty, None, ""));
        assert!(holds(Operator::Like, Some("hello"), "ell"));
        assert_eq!(compare_values("9", "10"), Ordering::Less);
        assert_eq!(compare_values("b", "a"), Ordering::Greater);
    }
}
