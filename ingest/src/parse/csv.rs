//! CSV and TSV: a table whose header is the first line; the chunker repeats the header in
//! every chunk of rows, so each chunk keeps the meaning of its values.

use super::{Section, Table};
use crate::error::{Error, Result};

pub fn parse(text: &str, delimiter: u8, budget: &mut super::Budget) -> Result<Vec<Section>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Encoding(format!("malformed csv: {e}")))?;
        let row: Vec<String> = record.iter().map(|v| v.trim().to_string()).collect();
        // A header of a megabyte on every row counts once per row.
        budget.spend(row.iter().map(|c| c.len() + 3).sum::<usize>())?;
        rows.push(row);
    }
    let lines: Vec<String> = rows.iter().map(|r| r.join(", ")).collect();
    Ok(match Table::from_rows(rows) {
        Some(mut table) => {
            // The header's names appear in every chunk: counted for each row.
            budget.spend(table.header.iter().map(String::len).sum::<usize>() * table.rows.len())?;
            table
                .header
                .iter_mut()
                .for_each(|h| *h = h.trim().to_string());
            vec![Section::table(None, Vec::new(), table)]
        }
        None => vec![Section::text(None, Vec::new(), lines.join("\n"))],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_a_table_under_the_header() {
        let limits = super::super::ParseLimits::default();
        let mut budget = super::super::Budget::new(&limits);
        let s = parse(
            "model,params,bits\ndeepseek-r1,14b,4\n\"qwen, chat\",7b,8\n",
            b',',
            &mut budget,
        )
        .unwrap();
        let table = s[0].table.as_ref().unwrap();
        assert_eq!(table.header, ["model", "params", "bits"]);
        assert_eq!(table.rows[1], ["qwen, chat", "7b", "8"]);
        assert_eq!(
            s[0].text,
            "| model | params | bits |\n| --- | --- | --- |\n| deepseek-r1 | 14b | 4 |\n| qwen, chat | 7b | 8 |\n"
        );
        let t = parse("a\tb\n1\t2\n", b'\t', &mut budget).unwrap();
        assert_eq!(t[0].table.as_ref().unwrap().rows, [["1", "2"]]);
        // A header alone is text.
        let h = parse("a,b\n", b',', &mut budget).unwrap();
        assert_eq!(h[0].text, "a, b");
    }
}
