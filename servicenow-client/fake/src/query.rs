//! Evaluation of encoded queries, as the fake instance reads them.
//!
//! Grammar: or-blocks separated by `^NQ`; inside a block, terms separated by `^`;
//! a term starting with `OR` joins the one before it (OR binds tighter than AND);
//! `ORDERBY<field>` / `ORDERBYDESC<field>` sort; `^EQ` ends the query. A condition
//! is a field name, an operator and a value. Values are compared without regard
//! to case, as the platform does. `JOIN` and `RLQUERY` terms are not modelled:
//! they are an error that says so.

use std::cmp::Ordering;

/// The operators the fake evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    NotEq,
    Like,
    NotLike,
    StartsWith,
    EndsWith,
    Contains,
    DoesNotContain,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Lt,
    Gt,
    Le,
    Ge,
    Between,
    InstanceOf,
}

/// Operators by their text, longest first where one is a prefix of another.
const OPERATORS: [(&str, Op); 18] = [
    ("DOES NOT CONTAIN", Op::DoesNotContain),
    ("NOT LIKE", Op::NotLike),
    ("NOT IN", Op::NotIn),
    ("ISNOTEMPTY", Op::IsNotEmpty),
    ("ISEMPTY", Op::IsEmpty),
    ("STARTSWITH", Op::StartsWith),
    ("ENDSWITH", Op::EndsWith),
    ("INSTANCEOF", Op::InstanceOf),
    ("CONTAINS", Op::Contains),
    ("BETWEEN", Op::Between),
    ("LIKE", Op::Like),
    ("IN", Op::In),
    ("!=", Op::NotEq),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
];

fn operator_at(text: &str) -> Option<(&'static str, Op)> {
    OPERATORS.iter().find(|(t, _)| text.starts_with(t)).copied()
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) field: String,
    pub(crate) op: Op,
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

/// The prefix of a query error for a construct the fake does not model.
pub(crate) const NOT_MODELLED: &str = "not modelled by the fake";

pub(crate) fn parse(query: &str) -> Result<ParsedQuery, QueryError> {
    let mut parsed = ParsedQuery::default();
    if query.is_empty() {
        return Ok(parsed);
    }
    // `^EQ` ends the query; what follows is ignored.
    let query = match query.find("^EQ") {
        Some(at) if query[at + 3..].is_empty() || query[at + 3..].starts_with('^') => &query[..at],
        _ => query,
    };
    for block_text in query.split("^NQ") {
        let mut groups: Vec<Vec<Condition>> = Vec::new();
        for term in block_text.split('^') {
            if term.is_empty() || term == "EQ" {
                continue;
            }
            if term.starts_with("JOIN") || term.starts_with("RLQUERY") || term == "ENDRLQUERY" {
                return Err(QueryError(format!(
                    "{NOT_MODELLED}: {} queries",
                    if term.starts_with("JOIN") {
                        "JOIN"
                    } else {
                        "RLQUERY"
                    }
                )));
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

fn is_field_byte(b: u8, upper: bool) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || b == b'_'
        || b == b'.'
        || (upper && b.is_ascii_uppercase())
}

fn parse_condition(text: &str) -> Result<Condition, QueryError> {
    // Field names are lower case: read one, then the operator. A name the platform
    // does not have (`AAAA=BBBB`) is still a term, naming an unknown field.
    let lower = text
        .bytes()
        .take_while(|b| is_field_byte(*b, false))
        .count();
    let split = match operator_at(&text[lower..]) {
        Some(op) if lower > 0 => Some((lower, op)),
        _ => (1..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .take_while(|&i| is_field_byte(text.as_bytes()[i - 1], true))
            .find_map(|i| operator_at(&text[i..]).map(|op| (i, op))),
    };
    let Some((at, (op_text, op))) = split else {
        return Err(QueryError(if lower == 0 {
            format!("no field name in {text:?}")
        } else {
            format!("no known operator in {text:?}")
        }));
    };
    Ok(Condition {
        field: text[..at].to_owned(),
        op,
        value: text[at + op_text.len()..].to_owned(),
    })
}

/// Whether a condition holds for a field value (`None` when the record has no such
/// value). Text is compared without regard to case, as the platform does.
pub(crate) fn holds(op: Op, actual: Option<&str>, expected: &str) -> bool {
    let actual = actual.unwrap_or("").to_lowercase();
    let expected_lower = expected.to_lowercase();
    let e = expected_lower.as_str();
    let a = actual.as_str();
    let list = || e.split(',').map(str::trim);
    match op {
        Op::Eq => a == e,
        Op::NotEq => a != e,
        Op::Like | Op::Contains => a.contains(e),
        Op::NotLike | Op::DoesNotContain => !a.contains(e),
        Op::StartsWith => a.starts_with(e),
        Op::EndsWith => a.ends_with(e),
        Op::In => list().any(|v| v == a),
        Op::NotIn => !list().any(|v| v == a),
        Op::IsEmpty => a.is_empty(),
        Op::IsNotEmpty => !a.is_empty(),
        Op::Lt => !a.is_empty() && compare_values(a, e) == Ordering::Less,
        Op::Gt => !a.is_empty() && compare_values(a, e) == Ordering::Greater,
        Op::Le => !a.is_empty() && compare_values(a, e) != Ordering::Greater,
        Op::Ge => !a.is_empty() && compare_values(a, e) != Ordering::Less,
        Op::Between => match e.split_once('@') {
            Some((low, high)) => {
                !a.is_empty()
                    && compare_values(a, low) != Ordering::Less
                    && compare_values(a, high) != Ordering::Greater
            }
            None => false,
        },
        // Evaluated against the dictionary by the caller.
        Op::InstanceOf => false,
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
        assert_eq!(q.blocks[1][0][0].op, Op::StartsWith);
        assert_eq!(q.order, vec![("order".to_owned(), true)]);
    }

    #[test]
    fn operators_are_read_longest_first() {
        for (text, op, value) in [
            ("nameNOT LIKEx", Op::NotLike, "x"),
            ("nameISNOTEMPTY", Op::IsNotEmpty, ""),
            ("a!=b", Op::NotEq, "b"),
            (
                "short_descriptionDOES NOT CONTAINdisk",
                Op::DoesNotContain,
                "disk",
            ),
            ("stateNOT IN6,7", Op::NotIn, "6,7"),
            ("priority<=2", Op::Le, "2"),
            ("priority>=2", Op::Ge, "2"),
            ("priority<2", Op::Lt, "2"),
            (
                "opened_atBETWEEN2026-01-01 00:00:00@2026-02-01 00:00:00",
                Op::Between,
                "2026-01-01 00:00:00@2026-02-01 00:00:00",
            ),
            ("sys_class_nameINSTANCEOFtask", Op::InstanceOf, "task"),
            ("stateIN1,2", Op::In, "1,2"),
            ("AAAA=BBBB", Op::Eq, "BBBB"),
        ] {
            let c = parse_condition(text).unwrap();
            assert_eq!((c.op, c.value.as_str()), (op, value), "{text}");
        }
        assert_eq!(parse_condition("AAAA=BBBB").unwrap().field, "AAAA");
        assert!(parse_condition("=x").is_err());
        assert!(parse_condition("name~x").is_err());
    }

    #[test]
    fn eq_ends_the_query_and_joins_are_not_modelled() {
        let q = parse("active=true^EQ").unwrap();
        assert_eq!(q.blocks.len(), 1);
        let err = parse("JOINsys_user.sys_id=task.assigned_to!active=true").unwrap_err();
        assert!(err.0.starts_with(NOT_MODELLED), "{err:?}");
        let err = parse("RLQUERYsys_user_grmember.user,>=1^ENDRLQUERY").unwrap_err();
        assert!(err.0.contains("RLQUERY"), "{err:?}");
    }

    #[test]
    fn conditions_hold_as_servicenow_evaluates_them() {
        assert!(holds(Op::In, Some("b"), "a,b"));
        assert!(!holds(Op::In, Some("c"), "a,b"));
        assert!(holds(Op::NotIn, Some("c"), "a,b"));
        assert!(holds(Op::IsEmpty, None, ""));
        assert!(holds(Op::Like, Some("hello"), "ell"));
        assert!(
            holds(Op::Eq, Some("Bob"), "bob"),
            "values compare without case"
        );
        assert!(holds(Op::StartsWith, Some("Agent.1"), "agent"));
        assert!(holds(Op::Lt, Some("9"), "10"));
        assert!(holds(Op::Between, Some("5"), "1@10"));
        assert!(!holds(Op::Gt, Some(""), "1"));
        assert_eq!(compare_values("9", "10"), Ordering::Less);
        assert_eq!(compare_values("b", "a"), Ordering::Greater);
    }
}
