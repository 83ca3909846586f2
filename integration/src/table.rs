//! The text tables of the reports (plan, apply, teardown, fleet), laid out
//! by `tabled`: each column as wide as its widest cell (colour codes not
//! counted), so a long step id, row name or instance never pushes the
//! columns after it out of line. A cell may hold several lines (a step's
//! changes under its resource).

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Padding, Style};

/// A table: the header, then one row a record, columns two spaces apart,
/// no borders, no trailing spaces; the columns `right` names aligned right.
pub(crate) fn render(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| (*h).to_owned()));
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(Style::empty()).with(Padding::new(0, 2, 0, 0));
    for &column in right {
        table.modify(Columns::one(column), Alignment::right());
    }
    let mut out = String::new();
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_colour_is_not_counted() {
        let text = render(
            &["STEP", "ACTION", "RESOURCE"],
            vec![
                vec![
                    "a_step_id_longer_than_twenty".into(),
                    "create".into(),
                    "x".into(),
                ],
                vec![
                    "cors".into(),
                    "\u{1b}[32mupdate\u{1b}[0m".into(),
                    "rule\n  field: 1 → 2".into(),
                ],
            ],
            &[],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "STEP                          ACTION  RESOURCE");
        assert_eq!(lines[1], "a_step_id_longer_than_twenty  create  x");
        assert_eq!(
            lines[2],
            "cors                          \u{1b}[32mupdate\u{1b}[0m  rule"
        );
        assert_eq!(lines[3], format!("{}  field: 1 → 2", " ".repeat(38)));
    }

    #[test]
    fn a_column_may_be_aligned_right() {
        let text = render(
            &["ROW", "SECONDS"],
            vec![vec!["a".into(), "1.5".into()]],
            &[1],
        );
        assert_eq!(text, "ROW  SECONDS\na        1.5\n");
    }
}
