//! The encoded-query builder (`sysparm_query`).
//!
//! ServiceNow silently ignores a condition on a field it does not know, and has no
//! escape for `^` inside a value, so a typo or a hostile value can turn "the user
//! named bob" into "every user". This builder checks every field name
//! (`[a-z0-9_.]`) and every value (no `^`, no line breaks, no `,` inside an `IN`
//! item) and reports the first problem when the query is built: a query is sent
//! exactly as written, or not at all.
//!
//! ```
//! use servicenow_client::query::Query;
//!
//! let q = Query::new()
//!     .eq("active", "true")
//!     .starts_with("user_name", "agent.")
//!     .or()
//!     .is_in("department.name", ["Support", "Sales"])
//!     .order_by("user_name");
//! assert_eq!(
//!     q.build().unwrap().as_str(),
//!     "active=true^user_nameSTARTSWITHagent.^ORdepartment.nameINSupport,Sales^ORDERBYuser_name"
//! );
//!
//! // A value that would smuggle a second condition in is refused.
//! assert!(Query::new().eq("user_name", "bob^ORactive=true").build().is_err());
//! ```

use std::fmt;

use crate::error::InvalidInput;

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `LIKE` (contains)
    Like,
    /// `NOT LIKE` (does not contain)
    NotLike,
    /// `STARTSWITH`
    StartsWith,
    /// `ENDSWITH`
    EndsWith,
    /// `IN` (one of a comma-separated list)
    In,
    /// `ISEMPTY` (takes no value)
    IsEmpty,
    /// `ISNOTEMPTY` (takes no value)
    IsNotEmpty,
}

impl Operator {
    /// The operator as ServiceNow writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::NotEq => "!=",
            Operator::Like => "LIKE",
            Operator::NotLike => "NOT LIKE",
            Operator::StartsWith => "STARTSWITH",
            Operator::EndsWith => "ENDSWITH",
            Operator::In => "IN",
            Operator::IsEmpty => "ISEMPTY",
            Operator::IsNotEmpty => "ISNOTEMPTY",
        }
    }

    /// Every operator, longest spelling first (the order a parser must try them in).
    pub const ALL: [Operator; 9] = [
        Operator::IsNotEmpty,
        Operator::StartsWith,
        Operator::NotLike,
        Operator::EndsWith,
        Operator::IsEmpty,
        Operator::Like,
        Operator::NotEq,
        Operator::In,
        Operator::Eq,
    ];
}

/// How a condition joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    And,
    Or,
    NewQuery,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Condition {
        join: Join,
        field: String,
        op: Operator,
        value: String,
    },
    OrderBy {
        field: String,
        descending: bool,
    },
}

/// Builds an encoded query. Conditions are joined with `^` (and) unless
/// [`or`](Self::or) or [`new_query`](Self::new_query) comes before them.
///
/// Problems are collected as the query is written and reported by
/// [`build`](Self::build); the client builds every query before it sends anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
    next_join: Option<Join>,
    error: Option<InvalidInput>,
}

impl Query {
    /// An empty query (matches every record).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition with any operator. For [`Operator::In`] the value is the
    /// comma-separated list; prefer [`is_in`](Self::is_in), which checks each item.
    pub fn condition(
        mut self,
        field: impl Into<String>,
        op: Operator,
        value: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let value = value.into();
        if self.error.is_none() {
            self.error = check_field(&field)
                .err()
                .or_else(|| check_value(&value).err());
        }
        let join = self.next_join.take().unwrap_or(Join::And);
        self.terms.push(Term::Condition {
            join,
            field,
            op,
            value,
        });
        self
    }

    /// `field=value`
    pub fn eq(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::Eq, value)
    }

    /// `field!=value`
    pub fn ne(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::NotEq, value)
    }

    /// `fieldLIKEvalue` (the field contains the value)
    pub fn like(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::Like, value)
    }

    /// `fieldNOT LIKEvalue` (the field does not contain the value)
    pub fn not_like(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::NotLike, value)
    }

    /// `fieldSTARTSWITHvalue`
    pub fn starts_with(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::StartsWith, value)
    }

    /// `fieldENDSWITHvalue`
    pub fn ends_with(self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.condition(field, Operator::EndsWith, value)
    }

    /// `fieldINa,b,c`; an item holding `,` is rejected, and so is an empty list.
    pub fn is_in<I, V>(mut self, field: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let items: Vec<String> = values.into_iter().map(Into::into).collect();
        if self.error.is_none() {
            if items.is_empty() {
                self.error = Some(InvalidInput::new(
                    "query value",
                    "an IN condition needs at least one value",
                ));
            } else if let Some(bad) = items.iter().find(|v| v.contains(',')) {
                self.error = Some(InvalidInput::new(
                    "query value",
                    format!("IN item {bad:?} holds `,`, which would split it in two"),
                ));
            }
        }
        self.condition(field, Operator::In, items.join(","))
    }

    /// `fieldISEMPTY`
    pub fn is_empty(self, field: impl Into<String>) -> Self {
        self.condition(field, Operator::IsEmpty, "")
    }

    /// `fieldISNOTEMPTY`
    pub fn is_not_empty(self, field: impl Into<String>) -> Self {
        self.condition(field, Operator::IsNotEmpty, "")
    }

    /// Joins the next condition with `^OR` (or) instead of `^` (and).
    pub fn or(mut self) -> Self {
        self.next_join = Some(Join::Or);
        self
    }

    /// Starts a new or-block (`^NQ`): records matching either block match.
    pub fn new_query(mut self) -> Self {
        self.next_join = Some(Join::NewQuery);
        self
    }

    /// Sorts by `field`, ascending (`ORDERBYfield`).
    pub fn order_by(self, field: impl Into<String>) -> Self {
        self.push_order(field.into(), false)
    }

    /// Sorts by `field`, descending (`ORDERBYDESCfield`).
    pub fn order_by_desc(self, field: impl Into<String>) -> Self {
        self.push_order(field.into(), true)
    }

    fn push_order(mut self, field: String, descending: bool) -> Self {
        if self.error.is_none() {
            self.error = check_field(&field).err();
        }
        self.terms.push(Term::OrderBy { field, descending });
        self
    }

    /// Whether the query sorts by any field.
    pub fn is_ordered(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::OrderBy { .. }))
    }

    /// Whether the query has no condition and no ordering.
    pub fn is_blank(&self) -> bool {
        self.terms.is_empty()
    }

    /// Checks the query and encodes it.
    pub fn build(&self) -> Result<EncodedQuery, InvalidInput> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.next_join.is_some() {
            return Err(InvalidInput::new(
                "query",
                "`or()` or `new_query()` must be followed by a condition",
            ));
        }
        let mut out = String::new();
        for term in &self.terms {
            if !out.is_empty() {
                out.push('^');
            }
            match term {
                Term::Condition {
                    join,
                    field,
                    op,
                    value,
                } => {
                    match join {
                        Join::Or if !out.is_empty() => out.push_str("OR"),
                        Join::NewQuery if !out.is_empty() => out.push_str("NQ"),
                        _ => {}
                    }
                    out.push_str(field);
                    out.push_str(op.as_str());
                    out.push_str(value);
                }
                Term::OrderBy { field, descending } => {
                    out.push_str(if *descending {
                        "ORDERBYDESC"
                    } else {
                        "ORDERBY"
                    });
                    out.push_str(field);
                }
            }
        }
        Ok(EncodedQuery(out))
    }
}

/// A checked encoded query, ready for `sysparm_query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EncodedQuery(String);

impl EncodedQuery {
    /// The encoded query text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (matches every record).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for EncodedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<Query> for EncodedQuery {
    type Error = InvalidInput;

    fn try_from(q: Query) -> Result<Self, Self::Error> {
        q.build()
    }
}

/// How many values one `IN` lookup carries (keeps URLs and batch items small).
pub const IN_CHUNK: usize = 100;

/// Lookups of `field` for every value, each built on `base()`: `IN` lists of up
/// to [`IN_CHUNK`] values, and one `=` lookup per value holding a comma (an `IN`
/// list cannot carry it).
///
/// ```
/// use servicenow_client::query::{Query, lookups};
/// let names = ["a", "b", "Doe, Jane"];
/// let queries = lookups("name", &names, || Query::new().eq("active", "true"));
/// let built: Vec<String> = queries.iter().map(|q| q.build().unwrap().to_string()).collect();
/// assert_eq!(built, ["active=true^nameINa,b", "active=true^name=Doe, Jane"]);
/// ```
pub fn lookups<S: AsRef<str>>(field: &str, values: &[S], base: impl Fn() -> Query) -> Vec<Query> {
    let (plain, comma): (Vec<&str>, Vec<&str>) = values
        .iter()
        .map(AsRef::as_ref)
        .partition(|v| !v.contains(','));
    let mut queries: Vec<Query> = plain
        .chunks(IN_CHUNK)
        .map(|chunk| base().is_in(field, chunk.iter().copied()))
        .collect();
    queries.extend(comma.into_iter().map(|v| base().eq(field, v)));
    queries
}

/// Checks a field name: `[a-z0-9_]` segments joined by `.` (dot-walking).
pub fn check_field(field: &str) -> Result<(), InvalidInput> {
    let valid = !field.is_empty()
        && field.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "field name",
            format!(
                "{field:?} is not a field name (lower-case letters, digits, `_`, and `.` between names)"
            ),
        ))
    }
}

/// Checks a table name: `[a-z0-9_]`, not empty.
pub fn check_table(table: &str) -> Result<(), InvalidInput> {
    let valid = !table.is_empty()
        && table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "table name",
            format!("{table:?} is not a table name (lower-case letters, digits and `_`)"),
        ))
    }
}

fn check_value(value: &str) -> Result<(), InvalidInput> {
    if let Some(c) = value.chars().find(|c| matches!(c, '^' | '\n' | '\r')) {
        return Err(InvalidInput::new(
            "query value",
            format!(
                "{value:?} holds {c:?}, which ServiceNow would read as a query separator; such values cannot be queried safely"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_encodes_as_servicenow_writes_it() {
        let q = Query::new()
            .eq("a", "1")
            .ne("b", "2")
            .like("c", "x y")
            .not_like("d", "z")
            .starts_with("e", "p")
            .ends_with("f", "s")
            .is_in("g", ["1", "2"])
            .is_empty("h")
            .is_not_empty("i")
            .order_by_desc("sys_updated_on");
        assert_eq!(
            q.build().unwrap().as_str(),
            "a=1^b!=2^cLIKEx y^dNOT LIKEz^eSTARTSWITHp^fENDSWITHs^gIN1,2^hISEMPTY^iISNOTEMPTY^ORDERBYDESCsys_updated_on"
        );
    }

    #[test]
    fn or_and_new_query_join_the_next_condition() {
        let q = Query::new()
            .eq("user", "u1")
            .or()
            .eq("user", "u2")
            .new_query()
            .eq("role.name", "admin");
        assert_eq!(
            q.build().unwrap().as_str(),
            "user=u1^ORuser=u2^NQrole.name=admin"
        );
        assert!(!q.is_ordered());
    }

    #[test]
    fn a_leading_or_is_a_plain_condition() {
        assert_eq!(
            Query::new().or().eq("a", "1").build().unwrap().as_str(),
            "a=1"
        );
    }

    #[test]
    fn dangling_join_is_an_error() {
        assert!(Query::new().eq("a", "1").or().build().is_err());
    }

    #[test]
    fn bad_field_names_are_rejected() {
        for bad in [
            "",
            "User",
            "user name",
            "a..b",
            ".a",
            "a.",
            "a=b",
            "a^b",
            "naïve",
        ] {
            let err = Query::new().eq(bad, "x").build().unwrap_err();
            assert_eq!(err.what, "field name", "{bad:?}");
        }
        assert!(Query::new().order_by("Name").build().is_err());
        assert!(Query::new().eq("u_custom.x_1", "x").build().is_ok());
    }

    #[test]
    fn separators_in_values_are_rejected() {
        for bad in ["a^b", "a\nb", "a\rb", "^OR"] {
            let err = Query::new().eq("name", bad).build().unwrap_err();
            assert_eq!(err.what, "query value", "{bad:?}");
        }
        let err = Query::new()
            .is_in("name", ["a", "b,c"])
            .build()
            .unwrap_err();
        assert!(err.reason.contains("b,c"), "{err}");
        assert!(
            Query::new()
                .is_in("name", Vec::<String>::new())
                .build()
                .is_err()
        );
        // A comma is fine in a value that is not an IN list.
        assert!(Query::new().eq("name", "Doe, Jane").build().is_ok());
    }

    #[test]
    fn the_first_problem_is_kept() {
        let err = Query::new()
            .eq("Bad", "x")
            .eq("ok", "a^b")
            .build()
            .unwrap_err();
        assert_eq!(err.what, "field name");
    }
}
